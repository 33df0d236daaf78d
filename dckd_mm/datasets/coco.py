# Copyright (c) dckd_mm contributors. All rights reserved.
"""COCO (mmdet's ``CocoDataset``): the check that its files are in place
before a run starts. Importing this module does not import mmdet."""
import os.path as osp
from typing import Mapping

from ..errors import DatasetError

__all__ = ['check_coco']


def check_coco(dataset: Mapping) -> None:
    """Refuse a ``CocoDataset`` config whose annotation file or image
    folder is missing, naming COCO's layout.

    Args:
        dataset (Mapping): the ``dataset`` of a dataloader config.

    Raises:
        DatasetError: the annotation file or the image folder is missing.
    """
    root = dataset.get('data_root', '')
    ann = osp.join(root, dataset.get('ann_file', ''))
    prefix = dataset.get('data_prefix', {})
    img = osp.join(root, prefix.get('img', '') if isinstance(
        prefix, Mapping) else prefix)
    missing = [p for p in (ann, img) if not osp.exists(p)]
    if missing:
        raise DatasetError(
            f'COCO data not found: {missing} missing. Expected '
            f'{root}annotations/instances_{{train,val}}2017.json and '
            f'{root}{{train,val}}2017/*.jpg from cocodataset.org (or set '
            'data_root). dckd_mm never downloads data itself.')
