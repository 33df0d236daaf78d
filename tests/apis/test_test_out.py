# Copyright (c) dckd_mm contributors. All rights reserved.
"""``tools/test.py --out``: a name that cannot be written is refused
before the test runs, and the predictions are written all or nothing (a
full disk leaves the old file, never a truncated one)."""
import os
import os.path as osp

import pytest
import torch
from mmengine.runner import Runner

import dckd_mm  # noqa: F401
from tests.fixtures.filesystems import make_read_only, run_limited, tmpfs
from tests.helpers import (run_name, run_tool, save_teacher_ckpt, tiny_run_cfg,
                           write_cifar100)

CFG = 'configs/dckd/res32x4_res8x4_cifar100.py'


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    """A tiny CIFAR-100 config (16 test images: about 150 kB of
    predictions) dumped to a file, and a checkpoint that fits its model."""
    tmp = tmp_path_factory.mktemp('out')
    root = write_cifar100(str(tmp / 'cifar'), 4, 16)
    cfg = tiny_run_cfg(CFG, str(tmp / 'build'), root, batch_size=8)
    teacher = str(tmp / 'teacher.pth')
    save_teacher_ckpt(cfg.model.teacher.to_dict(), teacher)
    cfg.model.teacher_ckpt = teacher
    cfg.experiment_name = run_name('test_out')
    runner = Runner.from_cfg(cfg)
    ckpt = str(tmp / 'model.pth')
    torch.save({'state_dict': runner.model.state_dict(), 'meta': {}}, ckpt)
    path = str(tmp / 'cfg.py')
    cfg.dump(path)
    return dict(cfg=path, ckpt=ckpt)


@pytest.fixture
def no_runner(monkeypatch):
    """Building a Runner fails the test: the check must come first."""

    def refuse(*args, **kwargs):
        raise AssertionError('the test was started')

    monkeypatch.setattr(Runner, 'from_cfg', refuse)


def test_out_naming_a_folder_is_refused_before_the_test(tiny, tmp_path,
                                                        no_runner):
    """D5: a folder under the --out name used to fail only after the
    whole test had run."""
    out = tmp_path / 'preds.pkl'
    out.mkdir()
    work = tmp_path / 'w'
    res = run_tool('tools/test.py', tiny['cfg'], tiny['ckpt'], '--work-dir',
                   str(work), '--out', str(out))
    assert res.returncode == 2, res.stderr[-3000:]
    assert res.stderr.startswith(f'error: --out {out} is a folder')
    assert list(out.iterdir()) == [] and not work.exists()


def test_out_in_a_read_only_folder_is_refused_before_the_test(
        tiny, tmp_path, no_runner):
    with tmpfs(str(tmp_path / 'ro')) as disk:
        (tmp_path / 'ro' / 'old.pkl').write_bytes(b'old')
        make_read_only(disk)
        out = osp.join(disk, 'preds.pkl')
        res = run_tool('tools/test.py', tiny['cfg'], tiny['ckpt'],
                       '--work-dir', str(tmp_path / 'w'), '--out', out)
        assert res.returncode == 2, res.stderr[-3000:]
        assert res.stderr.startswith(f'error: --out {out}: the folder '
                                     f'{disk} is not writable')
        assert os.listdir(disk) == ['old.pkl']


def test_out_on_a_full_disk_keeps_the_old_file(tiny, tmp_path):
    """D5: the predictions were dumped straight to the --out name, so a
    write that failed half-way left a truncated preds.pkl. A real limit
    (every file of the child at most 64 kB; the dump is about 150 kB):
    exit 2 with what to do, the earlier preds.pkl as it was, no
    .partial."""
    out = tmp_path / 'preds.pkl'
    out.write_bytes(b'earlier predictions')
    proc = run_limited(['tools/test.py', tiny['cfg'], tiny['ckpt'],
                        '--work-dir', str(tmp_path / 'w'), '--out',
                        str(out)], 64_000)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert f'error: writing {out} failed: File too large (' in proc.stderr
    assert 'the file would exceed the file-size limit' in proc.stderr
    assert 'Traceback' not in proc.stderr
    assert out.read_bytes() == b'earlier predictions'
    assert [p.name for p in tmp_path.rglob('*.partial')] == []
    assert 'preds.pkl' in os.listdir(tmp_path)
