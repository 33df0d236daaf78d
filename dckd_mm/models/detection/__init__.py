# Copyright (c) dckd_mm contributors. All rights reserved.
"""Detector introspection and build-time checks behind
:class:`~dckd_mm.models.algorithms.RoIDCKDDistill`, one concern a module:

* :mod:`.availability` — whether mmdet and mmcv's compiled ops import
  (:func:`detection_unavailable`);
* :mod:`.roi_heads` — which two-stage RoI heads DCKD can distil and how
  each stage of one is reached (:class:`RoIHeadLayout`);
* :mod:`.pyramid` — FPN levels at the strides the anchors and the RoI
  extractors assume;
* :mod:`.pretrained` — a student backbone that starts from ImageNet
  weights found on this machine;
* :mod:`.normalisation` — the teacher sees the batch normalised as its own
  ``data_preprocessor`` would.

Each check guards against a way a detection distillation config can run
without error and still be wrong (``docs/detection.md``). No module here
imports mmdet or mmcv's ops at import time, so this package imports on a
host without them; only the functions that inspect a detector do.
"""
from .availability import detection_unavailable
from .normalisation import (Normalisation, check_preprocessors, normalisation,
                            renormalise)
from .pretrained import (check_loaded, check_student_init, pretrained_cfgs,
                         resolve_pretrained)
from .pyramid import check_pyramid, pyramid_strides
from .roi_heads import (SUPPORTED, RoIHeadLayout, bbox_heads, defining_class,
                        roi_head_layout)

__all__ = [
    'detection_unavailable', 'SUPPORTED', 'RoIHeadLayout', 'roi_head_layout',
    'bbox_heads', 'defining_class', 'pyramid_strides', 'check_pyramid',
    'resolve_pretrained', 'pretrained_cfgs', 'check_student_init',
    'check_loaded', 'Normalisation', 'normalisation', 'check_preprocessors',
    'renormalise'
]
