# Copyright (c) dckd_mm contributors. All rights reserved.
"""A frozen teacher that would run dropout or stochastic depth is refused
(dckd_mm.models.algorithms.teacher_mode): the module scan, the check on
mmrazor's real SingleTeacherDistill with a ViT teacher, and the refusal
through tools/train.py (exit 2, no work dir left)."""
import copy
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from torch import nn

import dckd_mm  # noqa: F401
from dckd_mm.errors import ConfigError
from dckd_mm.models.algorithms.teacher_mode import (check_frozen_teacher_mode,
                                                    stochastic_modules)
from tests.helpers import (build_model, run_name, run_tool, tiny_run_cfg,
                           write_cifar100)

LOGITS_BASE = 'configs/_base_/distill/logits_kd.py'
KD_CIFAR = 'configs/kd/kd_resnet32x4_resnet8x4_1xb64_cifar100.py'
TINY_VIT = dict(type='VisionTransformer',
                arch=dict(embed_dims=32, num_layers=2, num_heads=2,
                          feedforward_channels=64),
                img_size=32, patch_size=8)
VIT = dict(type='ImageClassifier', backbone=TINY_VIT, neck=None,
           head=dict(type='VisionTransformerClsHead', num_classes=10,
                     in_channels=32))
RESNET8 = dict(type='ImageClassifier',
               backbone=dict(type='CifarResNet', arch='resnet8'),
               neck=dict(type='GlobalAveragePooling'),
               head=dict(type='LinearClsHead', num_classes=10,
                         in_channels=64))


class _Algo(nn.Module):
    """A distillation model in miniature: ``keep_eval`` is what
    SimKDDistill's train() does with its teacher."""

    def __init__(self, p: float, keep_eval: bool = False,
                 trainable: bool = False) -> None:
        super().__init__()
        self.teacher = nn.Sequential(nn.Linear(4, 4), nn.Dropout(p),
                                     nn.Sequential(nn.Dropout2d(p)))
        self.keep_eval = keep_eval
        self.teacher_trainable = trainable

    def train(self, mode: bool = True) -> '_Algo':
        super().train(mode)
        if self.keep_eval:
            self.teacher.eval()
        return self


def test_scan_names_active_dropout_and_drop_path():
    from mmcv.cnn.bricks.drop import DropPath
    net = nn.Sequential(nn.Dropout(0.25), nn.Dropout(0.0), DropPath(0.1),
                        DropPath(0.0), nn.Linear(2, 2))
    net.train()
    assert stochastic_modules(net) == [
        '0 (Dropout, p=0.25)', '2 (DropPath, drop_prob=0.1)'
    ]
    net.eval()
    assert stochastic_modules(net) == []


@pytest.mark.parametrize('training', [True, False])
def test_check_refuses_and_restores_the_mode(training):
    algo = _Algo(0.5).train(training)
    with pytest.raises(ConfigError) as err:
        check_frozen_teacher_mode(algo)
    msg = str(err.value)
    assert '2 module(s)' in msg and '1 (Dropout, p=0.5)' in msg
    assert '2.0 (Dropout2d, p=0.5)' in msg
    assert 'drop_path_rate=0' in msg and 'teacher_trainable=True' in msg
    assert algo.training is training
    assert all(m.training is training for m in algo.teacher.modules())


@pytest.mark.parametrize('algo', [
    _Algo(0.0), _Algo(0.5, keep_eval=True), _Algo(0.5, trainable=True)
], ids=['zero-rates', 'teacher-kept-in-eval', 'teacher-trainable'])
def test_check_passes_a_deterministic_or_trained_teacher(algo):
    check_frozen_teacher_mode(algo)


def test_a_plain_model_without_teacher_passes():
    check_frozen_teacher_mode(nn.Sequential(nn.Dropout(0.5)))


def _logits_algo(drop_path_rate: float) -> nn.Module:
    cfg = Config.fromfile(LOGITS_BASE).model.to_dict()
    cfg['teacher'] = dict(copy.deepcopy(VIT), _scope_='mmpretrain')
    cfg['teacher']['backbone']['drop_path_rate'] = drop_path_rate
    cfg['architecture'] = dict(copy.deepcopy(RESNET8), _scope_='mmpretrain')
    cfg['distiller']['teacher_recorders']['fc']['source'] = 'head'
    cfg['data_preprocessor'] = dict(
        type='mmpretrain.ClsDataPreprocessor', num_classes=10)
    return build_model(dict(cfg, _scope_='mmrazor'))


def test_mmrazor_single_teacher_distill_with_a_vit_teacher():
    """The real case: mmrazor keeps a ViT teacher's stochastic depth on
    (its logits differ between two calls), and the check refuses it."""
    algo = _logits_algo(0.5)
    algo.train()
    x = torch.randn(16, 3, 32, 32)
    torch.manual_seed(0)
    with torch.no_grad():
        first, second = (algo.teacher(x, mode='tensor') for _ in range(2))
    assert not torch.equal(first, second)
    with pytest.raises(ConfigError, match=r'DropPath, drop_prob=0\.5'):
        check_frozen_teacher_mode(algo)
    check_frozen_teacher_mode(_logits_algo(0.0))


def test_train_py_refuses_a_dropout_teacher(tmp_path):
    """tools/train.py on the KD config with a teacher head that has
    dropout: exit 2, the error names the module, no work dir is left."""
    root = write_cifar100(str(tmp_path / 'cifar'), 4, 4)
    cfg = tiny_run_cfg(KD_CIFAR, str(tmp_path / 'unused'), root)
    cfg.model.teacher.head = dict(
        type='StackedLinearClsHead', num_classes=100, in_channels=256,
        mid_channels=[32], dropout_rate=0.5)
    cfg.model.distiller.teacher_recorders.fc.source = 'head'
    cfg.model.teacher_ckpt = None
    path = str(tmp_path / 'cfg.py')
    cfg.dump(path)
    work = tmp_path / 'work'
    res = run_tool('tools/train.py', path, '--work-dir', str(work),
                   '--teacher-from-scratch', '--cfg-options',
                   f'experiment_name={run_name("teacher-mode")}')
    assert res.returncode == 2, res.stderr[-3000:]
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith('error:')]
    assert len(lines) == 1, res.stderr[-3000:]
    assert 'head.layers.0.dropout (Dropout, p=0.5)' in lines[0], lines[0]
    assert not osp.exists(work)
