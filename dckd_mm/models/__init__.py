# Copyright (c) dckd_mm contributors. All rights reserved.
from . import algorithms, backbones, connectors, heads, losses
from .algorithms import SimKDDistill
from .builder import build_model
from .connectors import SimKDProjector
from .heads import SimKDClsHead
from .losses import DCKDLoss, SimKDFeatureLoss, dckd_loss

__all__ = [
    'algorithms', 'backbones', 'connectors', 'heads', 'losses',
    'SimKDDistill', 'SimKDProjector', 'SimKDClsHead', 'DCKDLoss',
    'SimKDFeatureLoss', 'dckd_loss', 'build_model'
]
