# Copyright (c) dckd_mm contributors. All rights reserved.
"""dckd_mm's losses: DCKD (:mod:`.dckd`) and SimKD's feature loss
(:mod:`.feature_mse`).

The modules of this package import torch (and Triton, where installed)
only, so ``tools/analysis_tools/device_check.py`` can load them on a bare
GPU machine. Registration into mmrazor's ``MODELS`` happens here, under
the class names (``'DCKDLoss'``, ``'SimKDFeatureLoss'``), exactly as a
``@MODELS.register_module()`` decorator would.
"""
from mmrazor.registry import MODELS

from .dckd import DCKDLoss, dckd_loss, dckd_parts, warmup_factor
from .feature_mse import SimKDFeatureLoss, align_spatial, simkd_feature_loss
from .mask_rules import MASK_RULES
from .validation import check_dckd_options

MODELS.register_module(module=DCKDLoss)
MODELS.register_module(module=SimKDFeatureLoss)

__all__ = [
    'DCKDLoss', 'dckd_loss', 'dckd_parts', 'MASK_RULES', 'warmup_factor',
    'SimKDFeatureLoss', 'simkd_feature_loss', 'align_spatial',
    'check_dckd_options'
]
