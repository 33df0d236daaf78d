# Copyright (c) dckd_mm contributors. All rights reserved.
from .simkd_distill import SimKDDistill

__all__ = ['SimKDDistill']
