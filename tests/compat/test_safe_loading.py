# Copyright (c) dckd_mm contributors. All rights reserved.
"""mmengine checkpoints load with weights_only on; hostile pickles don't."""
import builtins
import os
import os.path as osp
import pickle
import subprocess
import sys

import pytest
import torch
import torch.nn as nn
from mmengine.logging import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.runner import Runner
from mmengine.runner.checkpoint import CheckpointLoader
from torch.utils.data import Dataset

from dckd_mm.compat import (CorruptCheckpointError, UntrustedCheckpointError,
                            safe_load)


class ToyModel(BaseModel):

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 2)

    def forward(self, x, y, mode='tensor'):
        out = self.linear(x)
        if mode == 'loss':
            return dict(loss=((out - y)**2).mean())
        return out


class ToyData(Dataset):

    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int) -> dict:
        g = torch.Generator().manual_seed(i)
        return dict(x=torch.randn(4, generator=g),
                    y=torch.randn(2, generator=g))


def toy_runner(work_dir: str, max_epochs: int, resume: bool,
               name: str) -> Runner:
    return Runner(
        model=ToyModel(),
        work_dir=work_dir,
        experiment_name=name,
        train_dataloader=dict(
            dataset=ToyData(),
            sampler=dict(type='DefaultSampler', shuffle=True),
            batch_size=4,
            collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1,
                                          momentum=0.9)),
        param_scheduler=dict(type='MultiStepLR', milestones=[1]),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook',
                                           interval=1)),
        resume=resume,
        randomness=dict(seed=0),
        log_level='WARNING')


@pytest.fixture(scope='module')
def runner_ckpt(tmp_path_factory) -> str:
    work_dir = str(tmp_path_factory.mktemp('toy'))
    toy_runner(work_dir, 2, False, 'toy_first').train()
    return work_dir


def test_runner_resumes_with_weights_only(runner_ckpt):
    """Train 2 epochs, resume to 3: history, optimizer and epoch restored."""
    runner = toy_runner(runner_ckpt, 3, True, 'toy_resumed')
    runner.train()
    assert runner.epoch == 3
    assert osp.isfile(osp.join(runner_ckpt, 'epoch_3.pth'))
    ckpt = safe_load(osp.join(runner_ckpt, 'epoch_3.pth'))
    assert ckpt['meta']['epoch'] == 3
    hub = ckpt['message_hub']['log_scalars']
    assert isinstance(hub['train/loss'], HistoryBuffer)
    assert hub['train/loss'].mean() == hub['train/loss'].mean()


def test_the_fix_is_needed_on_this_host(runner_ckpt, tmp_path):
    """The breakage is real here, in a fresh interpreter without dckd_mm:
    plain ``torch.load`` (as mmengine calls it) either refuses mmengine's
    own checkpoint (torch >= 2.6: weights_only by default) or runs the
    code a hostile checkpoint holds (older torch). The feature test says
    exactly which."""
    from dckd_mm.compat import safe_loading
    path = osp.join(runner_ckpt, 'epoch_2.pth')
    own = subprocess.run(
        [sys.executable, '-c', f'import torch; torch.load({path!r})'],
        capture_output=True, text=True, timeout=300)
    evil, marker = tmp_path / 'evil.pth', tmp_path / 'ran'
    torch.save({'x': _OpensAFile(str(marker))}, evil)
    subprocess.run(
        [sys.executable, '-c', f'import torch; torch.load({str(evil)!r})'],
        capture_output=True, text=True, timeout=300)
    refuses_own = own.returncode != 0
    runs_hostile = marker.exists()
    assert refuses_own or runs_hostile
    if refuses_own:
        assert 'Weights only load failed' in own.stderr
    # what the feature test found when dckd_mm was imported (before the
    # fix was installed)
    import dckd_mm  # noqa: F401
    from dckd_mm.compat import status
    row, = [r for r in status() if r.name == safe_loading.FIX.name]
    assert row.active
    reason = row.reason
    assert ('refuses mmengine' in reason) == refuses_own
    assert ('weights_only=False by default' in reason) == runs_hostile


class _OpensAFile:
    """Pickles as a call to ``builtins.open`` (creates ``path``)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (builtins.open, (self.path, 'w'))


class _GetattrEscape:
    """Pickles as ``getattr(subprocess.Popen, '__init__')``: the first step
    of a chained-attribute escape; the builtin getattr is never allowed."""

    def __reduce__(self):
        return (getattr, (subprocess.Popen, '__init__'))


class _HistoryBufferInit:
    """``getattr(HistoryBuffer, '__init__')``: not a statistics method."""

    def __reduce__(self):
        return (getattr, (HistoryBuffer, '__init__'))


@pytest.mark.parametrize('payload', ['open', 'getattr_os', 'getattr_hb'])
def test_hostile_pickle_is_refused_and_never_runs(tmp_path, payload):
    marker = tmp_path / 'pwned.txt'
    obj = {
        'open': _OpensAFile(str(marker)),
        'getattr_os': _GetattrEscape(),
        'getattr_hb': _HistoryBufferInit(),
    }[payload]
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {'w': torch.zeros(1)}, 'x': obj}, path)
    with pytest.raises(UntrustedCheckpointError, match='untrusted'):
        safe_load(str(path))
    # mmengine's own loader (teacher_ckpt, load_from, resume) goes through
    # the same check.
    with pytest.raises(UntrustedCheckpointError,
                       match=r'safe_load\(path, trusted=True\)'):
        CheckpointLoader.load_checkpoint(str(path), map_location='cpu')
    assert not marker.exists()


def test_untrusted_hint_names_what_really_works(tmp_path):
    """The hint used to name a ``--trust-checkpoint`` option that no tool
    has. It names the Python call and the re-save, and following it gives
    a file that loads safely."""
    import argparse
    path = tmp_path / 'ns.pth'
    torch.save({'state_dict': {'w': torch.ones(2)},
                'opt': argparse.Namespace(lr=0.1)}, path)
    with pytest.raises(UntrustedCheckpointError) as info:
        safe_load(str(path))
    message = str(info.value)
    assert '--trust-checkpoint' not in message
    assert 'dckd_mm.compat.safe_load(path, trusted=True)' in message
    assert "torch.save({'state_dict': state_dict}, new_path)" in message
    # the recipe of the message
    state_dict = safe_load(str(path), trusted=True)['state_dict']
    new_path = tmp_path / 'resaved.pth'
    torch.save({'state_dict': state_dict}, new_path)
    assert torch.equal(safe_load(str(new_path))['state_dict']['w'],
                       torch.ones(2))
    # no tool offers an option the message would have to name
    root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    for folder, _, files in os.walk(osp.join(root, 'tools')):
        for name in files:
            if name.endswith(('.py', '.sh')):
                with open(osp.join(folder, name), encoding='utf-8') as f:
                    assert '--trust-checkpoint' not in f.read(), name


def test_env_variable_cannot_disable_safety(tmp_path):
    marker = tmp_path / 'pwned.txt'
    path = tmp_path / 'evil.pth'
    torch.save({'x': _OpensAFile(str(marker))}, path)
    code = ('import dckd_mm, sys\n'
            'from dckd_mm.compat import safe_load, UntrustedCheckpointError\n'
            'try:\n'
            f'    safe_load({str(path)!r})\n'
            'except UntrustedCheckpointError:\n'
            '    sys.exit(0)\n'
            'sys.exit(3)\n')
    env = dict(os.environ, TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD='1')
    proc = subprocess.run([sys.executable, '-c', code], env=env,
                          capture_output=True, text=True, timeout=300,
                          cwd=osp.dirname(osp.dirname(osp.dirname(
                              osp.abspath(__file__)))))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not marker.exists()


def test_trusted_opt_in_is_explicit(tmp_path):
    path = tmp_path / 'ns.pth'
    import argparse
    torch.save({'opt': argparse.Namespace(lr=0.1)}, path)
    with pytest.raises(UntrustedCheckpointError):
        safe_load(str(path))
    # allowed for this call only, by name
    assert safe_load(str(path),
                     extra_safe_globals=[argparse.Namespace])['opt'].lr == 0.1
    assert safe_load(str(path), trusted=True)['opt'].lr == 0.1
    with pytest.raises(UntrustedCheckpointError):
        safe_load(str(path))


def test_corrupt_and_missing_files(tmp_path):
    good = tmp_path / 'good.pth'
    torch.save({'w': torch.arange(1000.0)}, good)
    data = good.read_bytes()
    bad = tmp_path / 'truncated.pth'
    bad.write_bytes(data[:len(data) // 2])
    with pytest.raises(CorruptCheckpointError, match='corrupt'):
        safe_load(str(bad))
    junk = tmp_path / 'junk.pth'
    junk.write_bytes(pickle.dumps('not a checkpoint')[:5] + b'xxxx')
    with pytest.raises(CorruptCheckpointError):
        safe_load(str(junk))
    with pytest.raises(FileNotFoundError):
        safe_load(str(tmp_path / 'missing.pth'))
