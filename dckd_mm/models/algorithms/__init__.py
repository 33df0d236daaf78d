# Copyright (c) dckd_mm contributors. All rights reserved.
"""mmrazor distillation algorithms. :class:`RoIDCKDDistill` (detection) is
imported, and so registered, only where mmdet and mmcv's compiled ops
import (:func:`dckd_mm.models.detection.detection_unavailable`):
classification runs without them."""
from ..detection import detection_unavailable
from .simkd_distill import SimKDDistill

__all__ = ['SimKDDistill']

if detection_unavailable() is None:
    from .roi_distill import RoIDCKDDistill  # noqa: F401
    __all__.append('RoIDCKDDistill')
