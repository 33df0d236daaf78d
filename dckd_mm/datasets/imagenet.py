# Copyright (c) dckd_mm contributors. All rights reserved.
"""ImageNet (mmpretrain's ``ImageNet`` dataset): the check that its files
are in place before a run starts."""
import os.path as osp
from typing import Mapping

from ..errors import DatasetError

__all__ = ['check_imagenet']


def check_imagenet(dataset: Mapping) -> None:
    """Refuse an ImageNet dataset config whose split folder (or annotation
    file, when one is set) is missing, naming the expected layout.

    Args:
        dataset (Mapping): the ``dataset`` of a dataloader config.

    Raises:
        DatasetError: a folder or file is missing.
    """
    root = dataset.get('data_root', '')
    split = dataset.get('split', '')
    prefix = dataset.get('data_prefix') or split
    if isinstance(prefix, Mapping):
        prefix = prefix.get('img_path', '')
    paths = [osp.join(root, prefix)]
    if dataset.get('ann_file'):
        paths.append(osp.join(root, dataset['ann_file']))
    missing = [p for p in paths if not osp.exists(p)]
    if missing:
        raise DatasetError(
            f'ImageNet {split or "data"} not found: {missing} missing. '
            f'Expected {root}/train/<class>/*.JPEG and '
            f'{root}/val/<class>/*.JPEG (or {root}/{{train,val}}/*.JPEG '
            f'with {root}/meta/{{train,val}}.txt lines "path label"), from '
            'image-net.org. dckd_mm never downloads data itself.')
