# Copyright (c) dckd_mm contributors. All rights reserved.
from .cifar import (DatasetError, SafeCIFAR100, check_cifar100,
                    restricted_pickle_load)
from .coco import check_coco
from .digits import (Digits100Dataset, DigitsDataset, load_digits_split,
                     make_digit_pairs)
from .imagenet import check_imagenet
from .preflight import PREFLIGHTS, preflight_dataset

__all__ = [
    'DigitsDataset', 'Digits100Dataset', 'load_digits_split',
    'make_digit_pairs', 'SafeCIFAR100', 'DatasetError',
    'restricted_pickle_load', 'check_cifar100', 'check_imagenet',
    'check_coco', 'PREFLIGHTS', 'preflight_dataset'
]
