# Copyright (c) dckd_mm contributors. All rights reserved.
from .simkd_projector import SimKDProjector

__all__ = ['SimKDProjector']
