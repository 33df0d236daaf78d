# Copyright (c) dckd_mm contributors. All rights reserved.
from .dckd import DCKDLoss, warmup_factor
from .dckd_loss import MASK_RULES, dckd_loss, dckd_parts
from .feature_mse import SimKDFeatureLoss, align_spatial, simkd_feature_loss

__all__ = [
    'DCKDLoss', 'dckd_loss', 'dckd_parts', 'MASK_RULES', 'warmup_factor',
    'SimKDFeatureLoss', 'simkd_feature_loss', 'align_spatial'
]
