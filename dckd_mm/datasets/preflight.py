# Copyright (c) dckd_mm contributors. All rights reserved.
"""Dataset checks that run before a Runner is built, one per dataset type.

Each check lives with its dataset (:mod:`.cifar`, :mod:`.imagenet`,
:mod:`.coco`) and takes the ``dataset`` of a dataloader config; this table
maps the dataset's type name (without a registry scope such as
``mmdet.``) to it. A type without a check is built as usual.
"""
from typing import Any, Callable, Dict, Mapping

from .cifar import check_cifar100
from .coco import check_coco
from .imagenet import check_imagenet

__all__ = ['PREFLIGHTS', 'dataset_type_name', 'preflight_dataset']

PREFLIGHTS: Dict[str, Callable[[Mapping], None]] = {
    'SafeCIFAR100': check_cifar100,
    'ImageNet': check_imagenet,
    'CocoDataset': check_coco,
}


def dataset_type_name(dataset_type: Any) -> str:
    """The bare name of a dataset config's ``type``.

    Args:
        dataset_type (Any): ``'mmdet.CocoDataset'``, ``'ImageNet'`` or a
            class.

    Returns:
        str: ``'CocoDataset'``, ``'ImageNet'``, the class's name ('' when
        there is no type).
    """
    if isinstance(dataset_type, type):
        return dataset_type.__name__
    return str(dataset_type or '').split('.')[-1]


def preflight_dataset(dataset: Any) -> None:
    """Run the check of ``dataset``'s type, if it has one.

    Args:
        dataset (Any): the ``dataset`` of a dataloader config; anything but
            a mapping is left alone.

    Raises:
        DatasetError: the dataset's files are missing.
    """
    if not isinstance(dataset, Mapping):
        return
    check = PREFLIGHTS.get(dataset_type_name(dataset.get('type')))
    if check is not None:
        check(dataset)
