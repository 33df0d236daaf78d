# Copyright (c) dckd_mm contributors. All rights reserved.
"""CIFAR-100 in mmpretrain's folder layout, read offline and safely.

mmpretrain's ``CIFAR100`` downloads the archive when it is missing (which
hangs on a closed network) and reads the pickles with ``pickle.loads``
(which runs code from a hostile file). ``SafeCIFAR100`` reads the same
layout::

    data/cifar100/cifar-100-python/{train,test,meta}

never downloads, unpickles with an allow-list (builtin containers and
numpy arrays only) and says what is wrong: missing files (with the official
archive to fetch), a corrupt or foreign pickle, labels out of range or not
of shape (N,) (an (N, 1) column included: refused, never reshaped), float
labels or float images (refused, never rounded or rescaled; integer pixels
0-255 of another integer type are converted to uint8, which is exact).
"""
import hashlib
import io
import os.path as osp
import pickle
from typing import Any, List, Mapping

import numpy as np
from mmpretrain.datasets import BaseDataset
from mmpretrain.datasets.categories import CIFAR100_CATEGORIES
from mmpretrain.registry import DATASETS

from ..errors import ConfigError, DatasetError

__all__ = [
    'SafeCIFAR100', 'restricted_pickle_load', 'check_cifar100', 'DatasetError'
]

CIFAR100_URL = 'https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz'
_MD5 = {
    'train': '16019d7e3df5f24257cddd939b257f8d',
    'test': 'f0ef6b0ae62326f3e7ffdfab6717acfc',
}


class _RestrictedUnpickler(pickle.Unpickler):
    _ALLOWED = {
        ('numpy.core.multiarray', '_reconstruct'),
        ('numpy._core.multiarray', '_reconstruct'),
        ('numpy', 'ndarray'),
        ('numpy', 'dtype'),
        ('_codecs', 'encode'),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f'refused global {module}.{name}: a CIFAR pickle only holds '
            'lists, dicts, bytes and numpy arrays.')


def restricted_pickle_load(path: str) -> Any:
    """Unpickle ``path`` allowing only containers and numpy arrays."""
    with open(path, 'rb') as f:
        data = f.read()
    try:
        return _RestrictedUnpickler(
            io.BytesIO(data), encoding='latin1').load()
    except Exception as err:
        raise DatasetError(
            f'{path} is not a valid CIFAR-100 pickle ({err}). The file is '
            f'corrupt or not from the official archive: delete it and '
            f'extract {CIFAR100_URL} again.') from None


@DATASETS.register_module()
class SafeCIFAR100(BaseDataset):
    """CIFAR-100 (python version) without downloads or unsafe unpickling.

    Args:
        data_root (str): folder holding ``cifar-100-python/``. Defaults to
            ``'data/cifar100'``.
        split (str): ``'train'`` or ``'test'``.
        verify_md5 (bool): check the official checksums. Defaults to True;
            tests on generated files turn it off.
        **kwargs: :class:`mmpretrain.datasets.BaseDataset` arguments.
    """
    METAINFO = {'classes': CIFAR100_CATEGORIES}
    base_folder = 'cifar-100-python'

    def __init__(self,
                 data_root: str = 'data/cifar100',
                 split: str = 'train',
                 verify_md5: bool = True,
                 **kwargs) -> None:
        if split not in ('train', 'test'):
            raise ConfigError(f"split must be 'train' or 'test', got "
                              f'{split!r}.')
        self.split = split
        self.verify_md5 = verify_md5
        kwargs.setdefault('ann_file', '')
        super().__init__(data_root=data_root, **kwargs)

    @classmethod
    def check_files(cls, data_root: str, split: str) -> str:
        """Path of the ``split`` pickle; :class:`DatasetError` if absent."""
        path = osp.join(data_root, cls.base_folder, split)
        if not osp.isfile(path):
            raise DatasetError(
                f'CIFAR-100 {split} file not found at {path}. '
                f'Download {CIFAR100_URL} and extract it so that '
                f'{osp.join(data_root, cls.base_folder)}/'
                '{train,test,meta} exist (or set data_root). dckd_mm never '
                'downloads data itself.')
        return path

    def load_data_list(self) -> List[dict]:
        path = self.check_files(self.data_root, self.split)
        if self.verify_md5:
            with open(path, 'rb') as f:
                digest = hashlib.md5(f.read()).hexdigest()
            if digest != _MD5[self.split]:
                raise DatasetError(
                    f'{path} has md5 {digest}, not the official '
                    f'{_MD5[self.split]}: the file is corrupt or not from '
                    f'{CIFAR100_URL}. Re-extract it (or pass '
                    'verify_md5=False for a deliberately different file).')
        entry = restricted_pickle_load(path)
        if not isinstance(entry, dict) or 'data' not in entry or \
                'fine_labels' not in entry:
            raise DatasetError(
                f"{path} lacks the 'data' / 'fine_labels' entries of a "
                'CIFAR-100 pickle.')
        data = _as_array(entry, 'data', path)
        labels = _as_array(entry, 'fine_labels', path)
        if labels.size and (labels.dtype == bool or
                            not np.issubdtype(labels.dtype, np.integer)):
            raise DatasetError(
                f"{path}: 'fine_labels' are {labels.dtype}, not integer "
                'class indices. dckd_mm does not round or truncate labels: '
                'convert them to int explicitly (soft labels are not '
                'supported).')
        if labels.ndim != 1:
            n = f'N = {len(data)}' if data.ndim == 2 else 'N images'
            raise DatasetError(
                f"{path}: 'fine_labels' has shape {labels.shape}, expected "
                f'(N,) with {n}: one class index per image, as the official '
                'archive stores them (a list of ints). dckd_mm does not '
                'guess which axis holds the samples: save them as a flat '
                'list (for a column of labels, labels.reshape(-1)).')
        labels = labels.astype(np.int64)
        if data.size and (data.dtype == bool or
                          not np.issubdtype(data.dtype, np.integer)):
            raise DatasetError(
                f'{path}: images are {data.dtype}; a CIFAR-100 pickle holds '
                'uint8 pixels 0-255. dckd_mm does not guess a scale '
                '(0-1 or 0-255) for float images: convert them to uint8 '
                'explicitly.')
        if data.size and (data.min() < 0 or data.max() > 255):
            raise DatasetError(
                f'{path}: pixel values in [{data.min()}, {data.max()}] do '
                'not fit uint8 (0-255).')
        data = data.astype(np.uint8)  # integer 0-255: exact
        if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or \
                len(labels) != len(data):
            raise DatasetError(
                f"{path}: expected 'data' of shape (N, 3072) (uint8 images, "
                "3 x 32 x 32 each) and N 'fine_labels', got "
                f'{data.shape} and {labels.shape}.')
        if len(labels) == 0:
            raise DatasetError(f'{path} holds no images.')
        n_cls = len(self.metainfo['classes'])
        if labels.min() < 0 or labels.max() >= n_cls:
            raise DatasetError(
                f'{path}: labels in [{labels.min()}, {labels.max()}] do not '
                f'fit the {n_cls} CIFAR-100 classes.')
        imgs = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        return [
            dict(img=np.ascontiguousarray(img), gt_label=int(lbl))
            for img, lbl in zip(imgs, labels)
        ]


def _as_array(entry: dict, key: str, path: str) -> np.ndarray:
    """``entry[key]`` as a numpy array; a ragged list (rows of different
    lengths, which numpy refuses) is a :class:`DatasetError` naming the
    file and the key."""
    try:
        return np.asarray(entry[key])
    except ValueError as err:
        raise DatasetError(
            f"{path}: '{key}' is not a regular array ({err}); a CIFAR-100 "
            "pickle holds 'data' of shape (N, 3072) and N 'fine_labels'."
        ) from None


def check_cifar100(dataset: Mapping) -> None:
    """Refuse a ``SafeCIFAR100`` dataset config whose split file is
    missing, before anything is built.

    Args:
        dataset (Mapping): the ``dataset`` of a dataloader config.

    Raises:
        DatasetError: the split file is missing (with the archive to
            fetch).
    """
    SafeCIFAR100.check_files(dataset.get('data_root', 'data/cifar100'),
                             dataset.get('split', 'train'))
