# Copyright (c) dckd_mm contributors. All rights reserved.
"""Checkpoint utilities shared by the models, the tools and the converters:
reading state dicts and strict loading (:mod:`.checkpoint`), and
all-or-nothing writes (:mod:`.atomic`). This package imports nothing from
:mod:`dckd_mm.models` or :mod:`dckd_mm.converters`."""
from .atomic import atomic_save, atomic_write
from .checkpoint import (describe_mismatch, extract_state_dict,
                         load_model_strict)

__all__ = [
    'extract_state_dict', 'load_model_strict', 'describe_mismatch',
    'atomic_save', 'atomic_write'
]
