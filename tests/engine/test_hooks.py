# Copyright (c) dckd_mm contributors. All rights reserved.
"""GradCosineHook / gradient_cosine against an independent computation."""
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from torch import nn

import dckd_mm  # noqa: F401
from dckd_mm.engine import GradCosineHook, gradient_cosine
from tests.helpers import run_name, save_teacher_ckpt

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_gradient_cosine_matches_hand_computation():
    torch.manual_seed(0)
    shared = nn.Linear(4, 3)
    only_a = nn.Linear(3, 1)
    x = torch.randn(8, 4)
    h = shared(x)
    loss_a = only_a(h).pow(2).mean()
    loss_b = (h - 1).pow(2).sum()
    params = list(shared.parameters()) + list(only_a.parameters())
    cos, n = gradient_cosine(loss_a, loss_b, params)
    assert n == 2  # only the shared layer's weight and bias
    h = shared(x)
    ga = torch.autograd.grad(only_a(h).pow(2).mean(),
                             list(shared.parameters()), retain_graph=True)
    gb = torch.autograd.grad((h - 1).pow(2).sum(), list(shared.parameters()))
    va = torch.cat([g.flatten() for g in ga])
    vb = torch.cat([g.flatten() for g in gb])
    expected = float(va @ vb / (va.norm() * vb.norm()))
    assert cos == pytest.approx(expected, rel=1e-6)
    # opposite objectives give -1
    w = nn.Parameter(torch.randn(5))
    cos, _ = gradient_cosine(w.sum(), -2 * w.sum(), [w])
    assert cos == pytest.approx(-1.0)


def test_bad_arguments():
    with pytest.raises(ValueError, match='interval'):
        GradCosineHook(interval=0)
    with pytest.raises(ValueError, match='scope'):
        GradCosineHook(scope='head')


def test_hook_records_without_touching_training(tmp_path):
    """In a real SimKD + DCKD run on digits100 the hook writes its records;
    re-running the loss inside the hook leaves BN statistics, weights and
    the optimizer exactly as a run without the hook leaves them."""
    cfg_path = osp.join(
        ROOT, 'configs/demo/dckd_resnet20_resnet8_1xb64_digits100.py')
    ckpt = str(tmp_path / 'teacher.pth')
    base = Config.fromfile(cfg_path)
    save_teacher_ckpt(base.model.teacher.to_dict(), ckpt)

    def run(with_hook):
        cfg = Config.fromfile(cfg_path)
        cfg.work_dir = str(tmp_path / f'run{int(with_hook)}')
        cfg.model.teacher_ckpt = ckpt
        cfg.train_dataloader.dataset.indices = 128
        cfg.val_dataloader.dataset.indices = 20
        cfg.train_cfg = dict(by_epoch=True, max_epochs=1, val_interval=1)
        cfg.log_level = 'WARNING'
        cfg.randomness = dict(seed=0, deterministic=True)
        cfg.experiment_name = run_name(f'hook{int(with_hook)}')
        if with_hook:
            cfg.custom_hooks = [dict(type='GradCosineHook', interval=1)]
        runner = Runner.from_cfg(cfg)
        runner.train()
        return runner

    plain, hooked = run(False), run(True)
    for (k, a), (_, b) in zip(plain.model.state_dict().items(),
                              hooked.model.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=k)
    path = osp.join(hooked.log_dir, 'grad_cosine.jsonl')
    recs = [json.loads(line) for line in open(path)]
    assert [r['iter'] for r in recs] == [1, 2]
    for r in recs:
        assert -1.0 <= r['cosine'] <= 1.0
        assert r['feature_loss'] > 0 and r['logit_loss'] >= 0
