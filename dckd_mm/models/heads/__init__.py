# Copyright (c) dckd_mm contributors. All rights reserved.
from .simkd_head import SimKDClsHead

__all__ = ['SimKDClsHead']
