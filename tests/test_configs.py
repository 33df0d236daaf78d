# Copyright (c) dckd_mm contributors. All rights reserved.
"""Every CIFAR-100 config parses, builds, trains one CPU iteration and runs
one validation (predict) pass, on CIFAR-100 pickles generated in the
official format. Models are the real ones; only data size and epochs
shrink. What each config must log is read from the config itself (its
distiller's losses), not from its file name."""
import glob
import os.path as osp
import re

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import dckd_mm  # noqa: F401
from dckd_mm.models.zoo import CIFAR_ZOO, cifar_classifier_cfg
from tests.helpers import (run_name, save_teacher_ckpt, tiny_run_cfg,
                           write_cifar100)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
ALL = sorted(p for p in glob.glob(osp.join(ROOT, 'configs', '*', '*.py'))
             if '/_base_/' not in p)
CIFAR_CONFIGS = [p for p in ALL if p.endswith('_cifar100.py')]
# {algo}[_{variant}]_{teacher}_{student}_{NxbM}_{dataset}, or
# {model}_{NxbM}_{dataset} for the zoo; one spelling per architecture
NAME = re.compile(r'^(?:[a-z]+(?:_[a-z]+)?_)?[a-z0-9.-]+(?:_[a-z0-9.-]+)?'
                  r'_\d+xb\d+(?:-1x)?_(cifar100|in1k|coco|digits|digits100)'
                  r'\.py$')
# the mmrazor feature losses of configs/mixing/
MIXED = ('fitnets', 'at', 'ofd', 'rkd')


def test_one_axis_and_one_naming_scheme():
    folders = {osp.basename(osp.dirname(p)) for p in ALL}
    assert folders == {'dckd', 'kd', 'dkd', 'simkd', 'zoo', 'demo',
                       'mixing'}, folders
    for p in ALL:
        name = osp.basename(p)
        if name == 'res32x4_res8x4_cifar100.py':
            continue  # the user's short path, an alias
        assert NAME.match(name), name
        assert '.' not in name[:-3], name
        folder = osp.basename(osp.dirname(p))
        if folder in ('dckd', 'kd', 'dkd', 'simkd'):
            assert name.startswith(folder + '_'), name
        if folder == 'mixing':  # {method}[_kd|_dckd]_...
            assert name.split('_')[0] in MIXED, name
    spellings = {a.lower().replace('_', '-') for a in CIFAR_ZOO}
    zoo = {osp.basename(p).split('_')[0] for p in ALL if '/zoo/' in p}
    assert zoo == spellings


def test_user_path_is_the_canonical_pair():
    alias = Config.fromfile(osp.join(ROOT, 'configs/dckd/'
                                     'res32x4_res8x4_cifar100.py'))
    canon = Config.fromfile(osp.join(
        ROOT, 'configs/dckd/dckd_resnet32x4_resnet8x4_1xb64_cifar100.py'))
    assert alias.model == canon.model and alias.train_cfg == canon.train_cfg


@pytest.mark.parametrize('arch', sorted(CIFAR_ZOO))
def test_model_bases_equal_the_zoo(arch):
    spelling = arch.lower().replace('_', '-')
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs/_base_/models', f'{spelling}_cifar.py'))
    assert cfg.model.to_dict() == cifar_classifier_cfg(arch)


@pytest.fixture(scope='module')
def cifar_root(tmp_path_factory):
    return write_cifar100(str(tmp_path_factory.mktemp('cifar')), 2, 2)


@pytest.mark.parametrize(
    'config', CIFAR_CONFIGS, ids=lambda p: osp.relpath(p, ROOT))
def test_config_trains_one_iteration(config, cifar_root, tmp_path):
    cfg = tiny_run_cfg(config, str(tmp_path / 'work'), cifar_root)
    distill = 'teacher' in cfg.model
    if distill:
        ckpt = str(tmp_path / 'teacher.pth')
        save_teacher_ckpt(cfg.model.teacher.to_dict(), ckpt)
        cfg.model.teacher_ckpt = ckpt
    cfg.experiment_name = run_name('cfg')
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 1
    scalars = runner.message_hub.log_scalars
    losses = {k: v.current() for k, v in scalars.items()
              if k.startswith('train/') and 'loss' in k}
    assert losses and all(torch.isfinite(torch.tensor(v))
                          for v in losses.values())
    if distill:
        expected = {f'train/distill.{name}'
                    for name in cfg.model.distiller.distill_losses}
        if cfg.model.get('calculate_student_loss', True) and \
                cfg.model.type.split('.')[-1] != 'SimKDDistill':
            expected.add('train/student.loss')
        assert 'val/teacher.accuracy/top1' in scalars
    else:
        expected = {'train/loss'}
    assert expected <= set(losses), (expected, sorted(losses))
    assert 'val/accuracy/top1' in scalars
    assert osp.isfile(osp.join(cfg.work_dir, 'epoch_1.pth'))
