# Copyright (c) dckd_mm contributors. All rights reserved.
"""Paths with spaces: the dedicated path options keep them, a space in a
``--cfg-options`` value (which mmengine's parser would drop) is refused."""
import os.path as osp
import shutil

import pytest

import dckd_mm  # noqa: F401
from dckd_mm.apis import load_config, preflight
from tests.helpers import run_tool, write_cifar100

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_spaces_in_cfg_options_are_refused(trained, tmp_path):
    work = tmp_path / 'w'
    res = run_tool('tools/train.py', trained['cfg'], '--work-dir', str(work),
                   '--cfg-options', 'model.teacher_ckpt=/tmp/dir with '
                   'spaces/t.pth')
    assert res.returncode == 2
    assert 'contains a space' in res.stderr and '--teacher-ckpt' in \
        res.stderr
    assert not work.exists()
    # lists may still be written with spaces after commas
    res = run_tool('tools/train.py', str(tmp_path / 'none.py'),
                   '--cfg-options', 'param_scheduler.milestones=[1, 2]')
    assert res.returncode == 2 and 'none.py does not exist' in res.stderr


def test_path_flags_keep_spaces(trained, tmp_path):
    folder = tmp_path / 'dir with spaces'
    folder.mkdir()
    teacher = str(folder / 'teacher.pth')
    shutil.copy(trained['teacher'], teacher)
    cfg = load_config(trained['cfg'], teacher_ckpt=teacher)
    assert cfg.model.teacher_ckpt == teacher
    preflight(cfg)
    root = write_cifar100(str(tmp_path / 'cifar data'))
    cifar = load_config(osp.join(
        ROOT, 'configs/_base_/datasets/cifar100_bs64.py'), data_root=root)
    for key in ('train_dataloader', 'test_dataloader'):
        assert cifar[key].dataset.data_root == root
    preflight(cifar, ('train_dataloader', 'test_dataloader'))
    with pytest.raises(ValueError, match='no dataset'):
        load_config(trained['cfg'], data_root=root)
