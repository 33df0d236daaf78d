# Copyright (c) dckd_mm contributors. All rights reserved.
from .checkpoint import (atomic_save, atomic_write, describe_mismatch,
                         extract_state_dict, load_model_strict)

__all__ = [
    'extract_state_dict', 'load_model_strict', 'describe_mismatch',
    'atomic_save', 'atomic_write'
]
