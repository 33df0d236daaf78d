# Copyright (c) dckd_mm contributors. All rights reserved.
"""Every embedded-benchmark config (configs/demo/: digits and digits100)
parses, builds, trains one CPU iteration on its real data and validates,
logging the losses its distiller declares."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import dckd_mm  # noqa: F401
from tests.helpers import run_name, save_teacher_ckpt

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', 'demo', '*.py')))


def test_both_benchmarks_have_every_method():
    names = {osp.basename(p) for p in CONFIGS}
    for data in ('digits', 'digits100'):
        for stem in ('resnet20', 'resnet8', 'kd_resnet20_resnet8',
                     'dkd_resnet20_resnet8', 'simkd_resnet20_resnet8',
                     'simkd_kd_resnet20_resnet8', 'dckd_resnet20_resnet8'):
            assert f'{stem}_1xb64_{data}.py' in names


@pytest.mark.parametrize('config', CONFIGS, ids=osp.basename)
def test_config_trains_one_iteration(config, tmp_path):
    cfg = Config.fromfile(config)
    name = osp.basename(config)
    classes = 100 if name.endswith('digits100.py') else 10
    cfg.work_dir = str(tmp_path / 'work')
    cfg.train_dataloader.batch_size = 4
    cfg.train_dataloader.dataset.indices = 4
    cfg.val_dataloader.dataset.indices = 6
    cfg.train_cfg = dict(by_epoch=True, max_epochs=1, val_interval=1)
    cfg.default_hooks.logger.interval = 1
    cfg.log_level = 'WARNING'
    cfg.experiment_name = run_name(f'demo_cfg_{name}')
    distill = 'teacher' in cfg.model
    if distill:
        assert cfg.model.teacher.head.num_classes == classes
        ckpt = str(tmp_path / 'teacher.pth')
        save_teacher_ckpt(cfg.model.teacher.to_dict(), ckpt)
        cfg.model.teacher_ckpt = ckpt
        assert cfg.model.architecture.head.num_classes == classes
        expected = {f'distill.{k}'
                    for k in cfg.model.distiller.distill_losses}
        if cfg.model.type.split('.')[-1] != 'SimKDDistill':
            expected.add('student.loss')
    else:
        assert cfg.model.head.num_classes == classes
        expected = {'loss'}
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 1
    assert len(runner.train_dataloader.dataset.metainfo['classes']) == \
        classes
    scalars = runner.message_hub.log_scalars
    losses = {k[len('train/'):]: v.current() for k, v in scalars.items()
              if k.startswith('train/') and 'loss' in k}
    assert expected <= set(losses), sorted(losses)
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())
    assert 'val/accuracy/top1' in scalars
