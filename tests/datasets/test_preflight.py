# Copyright (c) dckd_mm contributors. All rights reserved.
"""Each dataset type's check runs before a Runner is built, from one table
keyed by the type's name; the COCO check does not need mmdet."""
import ast
import os

import pytest

import dckd_mm  # noqa: F401
from dckd_mm.datasets import coco, imagenet
from dckd_mm.datasets.preflight import (PREFLIGHTS, dataset_type_name,
                                        preflight_dataset)
from dckd_mm.errors import DatasetError
from tests.helpers import write_cifar100


def test_table_names_each_checked_type():
    assert sorted(PREFLIGHTS) == ['CocoDataset', 'ImageNet', 'SafeCIFAR100']
    assert PREFLIGHTS['ImageNet'] is imagenet.check_imagenet
    assert PREFLIGHTS['CocoDataset'] is coco.check_coco


@pytest.mark.parametrize('given,name', [
    ('mmdet.CocoDataset', 'CocoDataset'), ('ImageNet', 'ImageNet'),
    (DatasetError, 'DatasetError'), (None, ''),
])
def test_type_names_drop_the_scope(given, name):
    assert dataset_type_name(given) == name


def test_cifar_check(tmp_path):
    with pytest.raises(DatasetError, match='cifar-100-python.tar.gz'):
        preflight_dataset(dict(type='SafeCIFAR100',
                               data_root=str(tmp_path / 'none')))
    root = write_cifar100(str(tmp_path / 'cifar'))
    preflight_dataset(dict(type='SafeCIFAR100', data_root=root,
                           split='test'))


def test_imagenet_check(tmp_path):
    dataset = dict(type='ImageNet', data_root=str(tmp_path), split='train',
                   ann_file='meta/train.txt')
    with pytest.raises(DatasetError, match=r'train/<class>/\*\.JPEG'):
        preflight_dataset(dataset)
    os.makedirs(tmp_path / 'train')
    with pytest.raises(DatasetError, match='meta/train.txt'):
        preflight_dataset(dataset)
    os.makedirs(tmp_path / 'meta')
    (tmp_path / 'meta' / 'train.txt').write_text('a.JPEG 0\n')
    preflight_dataset(dataset)


def test_coco_check(tmp_path):
    root = str(tmp_path) + '/'
    dataset = dict(type='mmdet.CocoDataset', data_root=root,
                   ann_file='annotations/instances_val2017.json',
                   data_prefix=dict(img='val2017/'))
    with pytest.raises(DatasetError, match='instances_val2017.json'):
        preflight_dataset(dataset)
    os.makedirs(tmp_path / 'annotations')
    (tmp_path / 'annotations' / 'instances_val2017.json').write_text('{}')
    with pytest.raises(DatasetError, match='val2017/'):
        preflight_dataset(dataset)
    os.makedirs(tmp_path / 'val2017')
    preflight_dataset(dataset)


def test_types_without_a_check_are_left_alone(tmp_path):
    preflight_dataset(dict(type='DigitsDataset', data_root=str(tmp_path)))
    preflight_dataset(None)
    preflight_dataset('not a dataset config')


@pytest.mark.parametrize('module', [coco, imagenet])
def test_checks_import_no_host_library(module):
    """The checks run before anything is built: their modules import
    nothing from mmdet (nor from the other hosts)."""
    with open(module.__file__) as f:
        tree = ast.parse(f.read())
    names = [alias.name for node in ast.walk(tree)
             if isinstance(node, ast.Import) for alias in node.names]
    names += [node.module or '' for node in ast.walk(tree)
              if isinstance(node, ast.ImportFrom)]
    assert names and not [n for n in names if n.split('.')[0] in (
        'mmdet', 'mmpretrain', 'mmengine', 'mmcv', 'torch')]
