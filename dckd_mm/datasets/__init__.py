# Copyright (c) dckd_mm contributors. All rights reserved.
from .cifar import DatasetError, SafeCIFAR100, restricted_pickle_load
from .digits import (Digits100Dataset, DigitsDataset, load_digits_split,
                     make_digit_pairs)

__all__ = [
    'DigitsDataset', 'Digits100Dataset', 'load_digits_split',
    'make_digit_pairs', 'SafeCIFAR100', 'DatasetError',
    'restricted_pickle_load'
]
