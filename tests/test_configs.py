# Copyright (c) dckd_mm contributors. All rights reserved.
"""Every config file parses, builds, trains one CPU iteration and runs one
validation (predict) pass, on CIFAR-100 pickles generated in the official
format. Models are the real ones; only data size and epochs shrink."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.runner import Runner

import dckd_mm  # noqa: F401
from tests.helpers import save_teacher_ckpt, tiny_run_cfg, write_cifar100

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CIFAR_CONFIGS = sorted(
    p for p in glob.glob(osp.join(ROOT, 'configs', '*', '*.py'))
    if '_base_' not in p and 'cifar100' in osp.basename(p))


def test_config_list_is_complete():
    names = {osp.relpath(p, ROOT) for p in CIFAR_CONFIGS}
    assert 'configs/dckd/res32x4_res8x4_cifar100.py' in names
    assert len([n for n in names if n.startswith('configs/dckd/')]) == 15
    assert len([n for n in names if n.startswith('configs/teachers/')]) == 26


@pytest.fixture(scope='module')
def cifar_root(tmp_path_factory):
    return write_cifar100(str(tmp_path_factory.mktemp('cifar')), 2, 2)


@pytest.mark.parametrize(
    'config', CIFAR_CONFIGS, ids=lambda p: osp.relpath(p, ROOT))
def test_config_trains_one_iteration(config, cifar_root, tmp_path):
    cfg = tiny_run_cfg(config, str(tmp_path / 'work'), cifar_root)
    if 'teacher' in cfg.model:
        ckpt = str(tmp_path / 'teacher.pth')
        save_teacher_ckpt(cfg.model.teacher.to_dict(), ckpt)
        cfg.model.teacher_ckpt = ckpt
    cfg.experiment_name = f'cfg_{osp.basename(config)}_{id(tmp_path)}'
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 1
    scalars = runner.message_hub.log_scalars
    losses = {k: v.current() for k, v in scalars.items()
              if k.startswith('train/') and 'loss' in k}
    assert losses and all(torch.isfinite(torch.tensor(v))
                          for v in losses.values())
    name = osp.basename(config)
    expected = set()
    if '/dckd/' in config:
        expected.add('train/distill.loss_dckd')
        if 'logits' not in name:
            expected.add('train/distill.loss_feat')
    if name.startswith('dckd-at_'):
        expected.add('train/distill.loss_at')
    if name.startswith('kd_'):
        expected |= {'train/distill.loss_kd', 'train/student.loss'}
    if name.startswith('dkd_'):
        expected |= {'train/distill.loss_dkd', 'train/student.loss'}
    if name.startswith('simkd_'):
        expected = {'train/distill.loss_feat'}
        assert 'train/distill.loss_dckd' not in losses
    if '/teachers/' in config:
        expected = {'train/loss'}
    assert expected <= set(losses), (expected, sorted(losses))
    if 'teacher' in cfg.model:
        assert 'val/teacher.accuracy/top1' in scalars
    assert 'val/accuracy/top1' in scalars
    assert osp.isfile(osp.join(cfg.work_dir, 'epoch_1.pth'))
