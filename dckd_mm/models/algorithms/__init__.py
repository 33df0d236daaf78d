# Copyright (c) dckd_mm contributors. All rights reserved.
from .roi_distill import RoIDCKDDistill, check_softmax_roi_detector
from .simkd_distill import SimKDDistill

__all__ = ['SimKDDistill', 'RoIDCKDDistill', 'check_softmax_roi_detector']
