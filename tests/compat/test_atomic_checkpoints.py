# Copyright (c) dckd_mm contributors. All rights reserved.
"""Kill and resume: the resumed run ends with the uninterrupted run's
weights; a kill during a checkpoint write leaves the previous checkpoint
usable and resume picks it."""
import os
import os.path as osp
import signal
import subprocess
import sys

import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# run as a module from the repository root, so that it imports this
# checkout's dckd_mm and tests packages
CHILD = ['-m', 'tests.children.kill_resume_child']


def child(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *CHILD, *args], cwd=ROOT,
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


def start_epoch(work_dir) -> int:
    with open(osp.join(work_dir, 'start_epoch.txt')) as f:
        return int(f.read())


def complete_checkpoints(work_dir) -> list:
    from dckd_mm.compat import CorruptCheckpointError, safe_load
    names = []
    for name in sorted(os.listdir(work_dir)):
        if name.endswith('.pth'):
            try:
                safe_load(osp.join(work_dir, name))
                names.append(name)
            except CorruptCheckpointError:
                pass
    return names


@pytest.mark.parametrize('fix', [True, False], ids=['fixed', 'mmengine'])
def test_kill_inside_rotation_window_keeps_a_checkpoint(tmp_path, fix,
                                                        uninterrupted):
    """max_keep_ckpts=1, killed while epoch_2.pth is being written: the
    previous checkpoint must still be there (mmengine deletes it first)."""
    work = str(tmp_path)
    extra = [] if fix else ['--without-fix']
    proc = child(work, '--max-keep-ckpts', '1', '--kill-writing',
                 'epoch_2.pth', *extra)
    assert proc.returncode == -signal.SIGKILL
    if not fix:  # the breakage is real: nothing left to resume from
        assert complete_checkpoints(work) == []
        return
    assert complete_checkpoints(work) == ['epoch_1.pth']
    with open(osp.join(work, 'last_checkpoint')) as f:
        assert f.read().strip().endswith('epoch_1.pth')
    proc = child(work, '--resume', '--max-keep-ckpts', '1')
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert start_epoch(work) == 1
    assert_same(weights(work), uninterrupted)


def test_kill_while_deleting_the_old_checkpoint(tmp_path, uninterrupted):
    """The old checkpoint is deleted last: killed then, the new one is
    complete and last_checkpoint already names it."""
    work = str(tmp_path)
    proc = child(work, '--max-keep-ckpts', '1', '--kill-removing',
                 'epoch_1.pth')
    assert proc.returncode == -signal.SIGKILL
    assert complete_checkpoints(work) == ['epoch_1.pth', 'epoch_2.pth']
    with open(osp.join(work, 'last_checkpoint')) as f:
        assert f.read().strip().endswith('epoch_2.pth')
    proc = child(work, '--resume', '--max-keep-ckpts', '1')
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert start_epoch(work) == 2
    assert_same(weights(work), uninterrupted)
    # epoch_1.pth, orphaned by the kill, stays (mmengine's own rotation
    # list does not hold it any more); the rotation goes on from epoch_2
    assert complete_checkpoints(work) == ['epoch_1.pth', 'epoch_3.pth']


@pytest.mark.parametrize('fix', [True, False], ids=['fixed', 'mmengine'])
def test_kill_while_replacing_best_keeps_the_previous_best(tmp_path, fix):
    work = str(tmp_path)
    extra = [] if fix else ['--without-fix']
    proc = child(work, '--max-keep-ckpts', '1', '--with-val',
                 '--kill-writing', 'best_score_epoch_2.pth', *extra)
    assert proc.returncode == -signal.SIGKILL
    best = [n for n in complete_checkpoints(work) if n.startswith('best_')]
    assert best == (['best_score_epoch_1.pth'] if fix else [])


def _toy_checkpoint(path: str, epoch: int, optimizer: bool) -> None:
    ckpt = {'meta': {'epoch': epoch, 'iter': 4 * epoch},
            'state_dict': {'w': torch.zeros(2)}}
    if optimizer:
        ckpt['optimizer'] = {'state': {}, 'param_groups': []}
        ckpt['param_schedulers'] = []
    torch.save(ckpt, path)


def test_fallback_never_picks_a_weights_only_best(tmp_path):
    from dckd_mm.compat.atomic_checkpoints import robust_find_latest
    work = str(tmp_path)
    _toy_checkpoint(osp.join(work, 'epoch_1.pth'), 1, optimizer=True)
    _toy_checkpoint(osp.join(work, 'best_acc_epoch_3.pth'), 3,
                    optimizer=False)
    _toy_checkpoint(osp.join(work, 'epoch_4.pth'), 4, optimizer=False)
    (tmp_path / 'epoch_5.pth').write_bytes(b'PK\x03\x04 truncated')
    (tmp_path / 'last_checkpoint').write_text(osp.join(work, 'epoch_6.pth'))
    assert robust_find_latest(work) == osp.join(work, 'epoch_1.pth')
    os.remove(osp.join(work, 'epoch_1.pth'))
    assert robust_find_latest(work) is None


def test_failed_write_leaves_no_partial(tmp_path, monkeypatch):
    """A full disk during the write: the error propagates, no
    ``.partial`` stays behind and the final name is untouched."""
    import errno

    from dckd_mm.compat.atomic_checkpoints import atomic_save_checkpoint
    real_fsync = os.fsync

    def full(fd):
        raise OSError(errno.ENOSPC, 'No space left on device')

    monkeypatch.setattr(os, 'fsync', full)
    target = str(tmp_path / 'epoch_1.pth')
    with pytest.raises(OSError, match='No space left'):
        atomic_save_checkpoint({'w': torch.zeros(3)}, target)
    monkeypatch.setattr(os, 'fsync', real_fsync)
    assert os.listdir(tmp_path) == []
