# Copyright (c) dckd_mm contributors. All rights reserved.
from .cifar import DatasetError, SafeCIFAR100, restricted_pickle_load
from .digits import DigitsDataset, load_digits_split

__all__ = [
    'DigitsDataset', 'load_digits_split', 'SafeCIFAR100', 'DatasetError',
    'restricted_pickle_load'
]
