# Copyright (c) dckd_mm contributors. All rights reserved.
import builtins
import os.path as osp
import pickle

import numpy as np
import pytest

import dckd_mm  # noqa: F401
from dckd_mm.datasets import DatasetError, SafeCIFAR100
from tests.helpers import write_cifar100


def test_reads_official_layout(tmp_path):
    root = write_cifar100(str(tmp_path), n_train=6, n_test=3)
    ds = SafeCIFAR100(data_root=root, split='train', verify_md5=False)
    assert len(ds) == 6
    with open(osp.join(root, 'cifar-100-python', 'train'), 'rb') as f:
        raw = pickle.load(f, encoding='latin1')
    item = ds.get_data_info(2)
    expected = raw['data'][2].reshape(3, 32, 32).transpose(1, 2, 0)
    assert np.array_equal(item['img'], expected)
    assert item['gt_label'] == raw['fine_labels'][2]
    assert len(ds.metainfo['classes']) == 100
    assert len(SafeCIFAR100(data_root=root, split='test',
                            verify_md5=False)) == 3


def test_missing_dataset_names_path_and_archive(tmp_path):
    with pytest.raises(DatasetError) as err:
        SafeCIFAR100(data_root=str(tmp_path / 'nowhere'), split='train')
    msg = str(err.value)
    assert 'cifar-100-python/train' in msg
    assert 'cifar-100-python.tar.gz' in msg and 'never downloads' in msg


def test_md5_checked_by_default(tmp_path):
    root = write_cifar100(str(tmp_path))
    with pytest.raises(DatasetError, match='md5'):
        SafeCIFAR100(data_root=root, split='train')


def test_corrupt_pickle(tmp_path):
    root = write_cifar100(str(tmp_path))
    path = osp.join(root, 'cifar-100-python', 'train')
    with open(path, 'rb') as f:
        data = f.read()
    with open(path, 'wb') as f:
        f.write(data[:len(data) // 3])
    with pytest.raises(DatasetError, match='not a valid CIFAR-100 pickle'):
        SafeCIFAR100(data_root=root, split='train', verify_md5=False)


class _Evil:

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (builtins.open, (self.path, 'w'))


def test_hostile_pickle_never_runs(tmp_path):
    root = write_cifar100(str(tmp_path))
    marker = tmp_path / 'pwned'
    with open(osp.join(root, 'cifar-100-python', 'train'), 'wb') as f:
        pickle.dump({'data': _Evil(str(marker)), 'fine_labels': []}, f)
    with pytest.raises(DatasetError,
                       match=r'refused global (io|builtins)\.open'):
        SafeCIFAR100(data_root=root, split='train', verify_md5=False)
    assert not marker.exists()


def test_bad_labels_and_shapes(tmp_path):
    root = write_cifar100(str(tmp_path))
    path = osp.join(root, 'cifar-100-python', 'train')
    with open(path, 'wb') as f:
        pickle.dump({'data': np.zeros((2, 3072), np.uint8),
                     'fine_labels': [0, 100]}, f)
    with pytest.raises(DatasetError, match='do not fit the 100'):
        SafeCIFAR100(data_root=root, split='train', verify_md5=False)
    with open(path, 'wb') as f:
        pickle.dump({'data': np.zeros((2, 100), np.uint8),
                     'fine_labels': [0, 1]}, f)
    with pytest.raises(DatasetError, match='3072'):
        SafeCIFAR100(data_root=root, split='train', verify_md5=False)
    with open(path, 'wb') as f:
        pickle.dump({'data': np.zeros((0, 3072), np.uint8),
                     'fine_labels': []}, f)
    with pytest.raises(DatasetError, match='no images'):
        SafeCIFAR100(data_root=root, split='train', verify_md5=False)


def test_bad_split():
    with pytest.raises(ValueError, match='split'):
        SafeCIFAR100(split='val')
