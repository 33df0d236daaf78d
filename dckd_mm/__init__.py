# Copyright (c) dckd_mm contributors. All rights reserved.
"""dckd_mm: Decoupled Classifier Knowledge Distillation for mmrazor.

Importing the package applies the compatibility layer (:mod:`dckd_mm.compat`)
and registers dckd_mm's own modules into the host registries (mmrazor's and
mmpretrain's ``MODELS``, mmpretrain's ``DATASETS``). dckd_mm's own code does
not import mmdet (mmrazor's ``mmrazor.models`` does, when it is installed).
"""
from .compat import apply as _apply_compat
from .version import __version__

_apply_compat()

from . import datasets, engine, models  # noqa: E402,F401  (registration)

__all__ = ['__version__', 'datasets', 'engine', 'models']
