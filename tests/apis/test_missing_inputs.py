# Copyright (c) dckd_mm contributors. All rights reserved.
"""The user's commands fail fast and clearly on missing inputs."""
import os.path as osp
import time

import torch
from mmengine.config import Config

import dckd_mm  # noqa: F401
from tests.helpers import run_tool, save_teacher_ckpt

CFG = next((c for c in (
    'configs/dckd/dckd_resnet32x4_resnet8x4_1xb64_cifar100.py',
    'configs/dckd/res32x4_res8x4_cifar100.py') if osp.isfile(c)),
           'configs/dckd/res32x4_res8x4_cifar100.py')


def test_train_without_teacher_or_data(tmp_path):
    start = time.perf_counter()
    res = run_tool('tools/train.py', CFG, '--work-dir', str(tmp_path / 'w'))
    assert res.returncode == 2
    assert 'checkpoints/cifar100/resnet32x4.pth' in res.stderr
    assert 'convert_repdistiller_ckpt.py' in res.stderr
    ckpt = str(tmp_path / 't.pth')
    save_teacher_ckpt(Config.fromfile(CFG).model.teacher.to_dict(), ckpt)
    res = run_tool('tools/train.py', CFG, '--work-dir', str(tmp_path / 'w'),
                   '--cfg-options', f'model.teacher_ckpt={ckpt}',
                   'train_dataloader.dataset.data_root=' +
                   str(tmp_path / 'none'))
    assert res.returncode == 2
    assert 'cifar-100-python/train' in res.stderr
    assert 'cifar-100-python.tar.gz' in res.stderr
    assert time.perf_counter() - start < 60
    assert not (tmp_path / 'w').exists() or not any(
        p.suffix == '.pth' for p in (tmp_path / 'w').rglob('*'))


def test_test_tool_missing_checkpoint(tmp_path):
    res = run_tool('tools/test.py', CFG, str(tmp_path / 'none.pth'))
    assert res.returncode == 2 and 'none.pth' in res.stderr


def test_config_file_missing(tmp_path):
    res = run_tool('tools/train.py', str(tmp_path / 'nope.py'))
    assert res.returncode == 2 and 'nope.py' in res.stderr


def test_amp_on_cpu_uses_bf16_wrapper():
    from dckd_mm.apis import load_config
    cfg = load_config(CFG, amp=True)
    assert cfg.optim_wrapper.type == (
        'AmpOptimWrapper' if torch.cuda.is_available() else
        'CPUBF16OptimWrapper')
