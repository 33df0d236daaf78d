# Copyright (c) dckd_mm contributors. All rights reserved.
"""Checkpoint utilities shared by the models, the tools and the converters
(reading state dicts, strict loading, atomic writes). This package imports
nothing from :mod:`dckd_mm.models` or :mod:`dckd_mm.converters`."""
from .checkpoint import (atomic_save, atomic_write, describe_mismatch,
                         extract_state_dict, load_model_strict)

__all__ = [
    'extract_state_dict', 'load_model_strict', 'describe_mismatch',
    'atomic_save', 'atomic_write'
]
