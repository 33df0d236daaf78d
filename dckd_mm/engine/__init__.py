# Copyright (c) dckd_mm contributors. All rights reserved.
from .hooks import GradCosineHook, gradient_cosine
from .optim_wrapper import CPUBF16OptimWrapper

__all__ = ['CPUBF16OptimWrapper', 'GradCosineHook', 'gradient_cosine']
