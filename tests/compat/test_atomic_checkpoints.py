# Copyright (c) dckd_mm contributors. All rights reserved.
"""Kill and resume: the resumed run ends with the uninterrupted run's
weights; a kill during a checkpoint write leaves the previous checkpoint
usable and resume picks it."""
import os.path as osp
import signal
import subprocess
import sys

import pytest
import torch

CHILD = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))),
                 'kill_resume_child.py')


def child(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, CHILD, *args],
                          capture_output=True, text=True, timeout=300)


def weights(work_dir) -> dict:
    return torch.load(osp.join(work_dir, 'final_weights.pt'))


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory) -> dict:
    work = str(tmp_path_factory.mktemp('full'))
    proc = child(work)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return weights(work)


def assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_sigkill_mid_epoch_then_resume(tmp_path, uninterrupted):
    work = str(tmp_path)
    proc = child(work, '--kill-at-iter', '6')  # epoch 2 of 3, 4 iters each
    assert proc.returncode == -signal.SIGKILL
    assert osp.isfile(osp.join(work, 'epoch_1.pth'))
    assert not osp.exists(osp.join(work, 'epoch_2.pth'))
    proc = child(work, '--resume')
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert_same(weights(work), uninterrupted)


def test_kill_during_checkpoint_write(tmp_path, uninterrupted):
    work = str(tmp_path)
    proc = child(work, '--kill-writing', 'epoch_2.pth')
    assert proc.returncode == -signal.SIGKILL
    assert osp.isfile(osp.join(work, 'epoch_2.pth.partial'))
    assert not osp.exists(osp.join(work, 'epoch_2.pth'))
    with open(osp.join(work, 'last_checkpoint')) as f:
        assert f.read().strip().endswith('epoch_1.pth')
    proc = child(work, '--resume')
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert_same(weights(work), uninterrupted)


def test_kill_while_writing_last_checkpoint(tmp_path, uninterrupted):
    """An emptied last_checkpoint falls back to the newest complete file."""
    work = str(tmp_path)
    proc = child(work, '--kill-writing', 'last_checkpoint')
    assert proc.returncode == -signal.SIGKILL
    proc = child(work, '--resume')
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert_same(weights(work), uninterrupted)


def test_without_fix_a_truncated_checkpoint_is_left(tmp_path):
    """The breakage is real: mmengine alone leaves a truncated file under
    the checkpoint's final name."""
    work = str(tmp_path)
    proc = child(work, '--kill-writing', 'epoch_2.pth', '--without-fix')
    assert proc.returncode == -signal.SIGKILL
    assert osp.isfile(osp.join(work, 'epoch_2.pth'))
    from dckd_mm.compat import CorruptCheckpointError, safe_load
    with pytest.raises(CorruptCheckpointError):
        safe_load(osp.join(work, 'epoch_2.pth'))
