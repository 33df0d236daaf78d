# Copyright (c) dckd_mm contributors. All rights reserved.
from .optim_wrapper import CPUBF16OptimWrapper

__all__ = ['CPUBF16OptimWrapper']
