# Copyright (c) dckd_mm contributors. All rights reserved.
"""--amp on CPU: bf16 autocast through CPUBF16OptimWrapper."""
import math

import torch
from mmengine.runner import Runner

import dckd_mm  # noqa: F401
from dckd_mm.apis import load_config
from dckd_mm.engine import CPUBF16OptimWrapper
from tests.helpers import run_name, save_teacher_ckpt


def test_context_runs_bf16_autocast():
    model = torch.nn.Linear(4, 3)
    wrapper = CPUBF16OptimWrapper(torch.optim.SGD(model.parameters(), 0.1))
    with wrapper.optim_context(model):
        assert model(torch.randn(2, 4)).dtype == torch.bfloat16
    assert model(torch.randn(2, 4)).dtype == torch.float32


def test_bf16_distillation_run_is_finite(tmp_path):
    cfg = load_config(
        'configs/demo/dckd_resnet20_resnet8_1xb64_digits.py',
        work_dir=str(tmp_path / 'w'), amp=True)
    ckpt = str(tmp_path / 't.pth')
    save_teacher_ckpt(cfg.model.teacher.to_dict(), ckpt)
    cfg.model.teacher_ckpt = ckpt
    cfg.train_cfg = dict(by_epoch=False, max_iters=200, val_interval=1000)
    cfg.param_scheduler = []
    cfg.train_dataloader.batch_size = 8
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook',
                                        interval=1000)
    cfg.log_level = 'WARNING'
    cfg.experiment_name = run_name('bf16')
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert isinstance(runner.optim_wrapper, CPUBF16OptimWrapper)
    hub = runner.message_hub.log_scalars
    for key in ('train/distill.loss_feat', 'train/distill.loss_dckd'):
        values = hub[key].data[0]
        assert len(values) == 200
        assert all(math.isfinite(v) for v in values), key
