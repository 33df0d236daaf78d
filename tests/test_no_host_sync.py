# Copyright (c) dckd_mm contributors. All rights reserved.
"""A SimKD + DCKD training step reads nothing back to the host from
dckd_mm's own code (loss, head, algorithm, hooks).

Every Python-level way of turning a tensor value into a host value
(``item``, ``tolist``, ``nonzero``, ``bool``/``int``/``float``/index
conversion) is intercepted and counted when its caller is a file of the
dckd_mm package. On a GPU each of them would stall the step; value checks
run as device-side asserts instead (``torch._assert_async``, which on the
CPU checks at once and on a GPU does not synchronise).
"""
import os.path as osp
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import dckd_mm
from tests.helpers import run_name, save_teacher_ckpt

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PKG = osp.dirname(osp.abspath(dckd_mm.__file__)) + osp.sep
METHODS = ('item', 'tolist', 'nonzero', '__bool__', '__int__', '__float__',
           '__index__')


class SyncCounter:
    """Patch ``torch.Tensor``'s host-reading methods; count the calls made
    from dckd_mm's files (with the caller's place)."""

    def __init__(self) -> None:
        self.calls = []
        self._saved = {}

    def __enter__(self) -> 'SyncCounter':
        for name in METHODS:
            orig = getattr(torch.Tensor, name)
            self._saved[name] = orig

            def wrapper(t, *args, _orig=orig, _name=name, **kwargs):
                frame = sys._getframe(1)
                if frame.f_code.co_filename.startswith(PKG):
                    self.calls.append(
                        f'{_name} at {frame.f_code.co_filename}:'
                        f'{frame.f_lineno}')
                return _orig(t, *args, **kwargs)

            setattr(torch.Tensor, name, wrapper)
        return self

    def __exit__(self, *exc) -> None:
        for name, orig in self._saved.items():
            setattr(torch.Tensor, name, orig)


def test_counter_sees_a_host_read_in_dckd_mm():
    """Positive control: the debug checks do read values, and are seen."""
    from dckd_mm.models.losses.validation import validate_logits_and_labels
    s = torch.randn(4, 5)
    with SyncCounter() as counter:
        validate_logits_and_labels(s, s, torch.zeros(4, dtype=torch.long),
                                   check_values=True)
    assert any('validation.py' in c for c in counter.calls)


@pytest.mark.parametrize('config', [
    'configs/demo/dckd_resnet20_resnet8_1xb64_digits.py',
    'configs/dckd/res32x4_res8x4_cifar100.py',
])
def test_training_step_has_no_host_sync(config, tmp_path, monkeypatch):
    monkeypatch.delenv('DCKD_MM_DEBUG', raising=False)
    cfg = Config.fromfile(osp.join(ROOT, config))
    cfg.work_dir = str(tmp_path)
    cfg.log_level = 'WARNING'
    cfg.experiment_name = run_name('sync')
    ckpt = str(tmp_path / 'teacher.pth')
    save_teacher_ckpt(cfg.model.teacher.to_dict(), ckpt)
    cfg.model.teacher_ckpt = ckpt
    cfg.train_dataloader.dataset = dict(
        type='DigitsDataset', split='train', indices=8,
        pipeline=[dict(type='PackInputs')])
    cfg.train_dataloader.batch_size = 4
    cfg.train_dataloader.num_workers = 0
    cfg.train_dataloader.persistent_workers = False
    runner = Runner.from_cfg(cfg)
    model = runner.model
    optim = runner.build_optim_wrapper(runner.optim_wrapper)
    batch = next(iter(runner.build_dataloader(runner._train_dataloader)))
    model.train()
    model.train_step(batch, optim_wrapper=optim)  # first step: set-up
    with SyncCounter() as counter:
        losses = model.train_step(batch, optim_wrapper=optim)
    assert 'distill.loss_dckd' in losses
    assert counter.calls == []
