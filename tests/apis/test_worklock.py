# Copyright (c) dckd_mm contributors. All rights reserved.
"""One run per work dir (D7): a run holds ``<work_dir>/.dckd_mm.lock`` for
its lifetime; a second run into the same work dir is refused before it
writes anything, and a lock left by a killed run is taken over.

The faults are real: a training in a child process that stops after its
first epoch until the test lets it go, a child process holding the lock,
and a child killed with SIGKILL."""
import hashlib
import json
import os
import os.path as osp
import signal
import socket
import subprocess
import sys
import time

import pytest

import dckd_mm  # noqa: F401
from dckd_mm.apis.worklock import (LOCK_NAME, WorkDirLock, global_rank,
                                   hold_work_dir)
from dckd_mm.errors import OutputPathError
from tests.helpers import run_name, run_tool

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

# The lock module itself, without the second of imports dckd_mm's
# package pulls in: bare packages stand in for dckd_mm and dckd_mm.apis,
# so only worklock.py and errors.py run.
_HOLDER = '''
import os.path as osp, sys, time, types
for name in ('dckd_mm', 'dckd_mm.apis'):
    package = types.ModuleType(name)
    package.__path__ = [osp.join(sys.argv[2], *name.split('.'))]
    sys.modules[name] = package
from dckd_mm.apis.worklock import hold_work_dir
with hold_work_dir(sys.argv[1], command='holder child'):
    print('held', flush=True)
    time.sleep(600)
'''


def _env() -> dict:
    return dict(os.environ, OMP_NUM_THREADS='1',
                PYTHONPATH=os.pathsep.join(
                    [ROOT] + [p for p in [os.environ.get('PYTHONPATH')] if p]))


def _snapshot(folder: str) -> dict:
    """Every file under ``folder``: its size, mtime and sha256."""
    files = {}
    for base, dirs, names in os.walk(folder):
        for name in dirs + names:
            path = osp.join(base, name)
            rel = osp.relpath(path, folder)
            if osp.isdir(path):
                files[rel] = 'dir'
                continue
            with open(path, 'rb') as f:
                digest = hashlib.sha256(f.read()).hexdigest()
            st = os.stat(path)
            files[rel] = (st.st_size, st.st_mtime_ns, digest)
    return files


def _wait_for(path: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not osp.exists(path):
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f'child ended ({proc.returncode}): '
                                 f'{err[-3000:]}')
        if time.monotonic() > deadline:
            raise AssertionError(f'no {path} after {timeout} s')
        time.sleep(0.05)


@pytest.fixture
def holder(tmp_path):
    """A child python holding the lock of ``tmp_path/'work'`` through
    :func:`hold_work_dir`; killed at the end."""
    work = str(tmp_path / 'work')
    proc = subprocess.Popen([sys.executable, '-c', _HOLDER, work, ROOT],
                            cwd=ROOT,
                            env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line == 'held\n', proc.stderr.read()[-3000:]
        yield proc, work
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def test_a_second_training_meets_the_first_in_its_work_dir(trained,
                                                           tmp_path):
    """D7: a second training into the work dir of a running one used to
    run too: it dumped its own cfg.py over the first one's, opened its log
    folder beside it (the same one within a second) and wrote its
    checkpoints over the first run's. A real training (a child process,
    paused after its first epoch with its checkpoint, config dump and log
    written) holds the work dir; a second training, a resume and a test
    into it are each refused with exit 2, naming the work dir and the
    child's pid and host, and nothing of the first run changes. Let go,
    the first run ends normally and removes its lock."""
    work = str(tmp_path / 'work')
    marker, go = str(tmp_path / 'paused'), str(tmp_path / 'go')
    cfg = tmp_path / 'cfg.py'
    cfg.write_text(
        f"_base_ = ['{trained['cfg']}']\n"
        "custom_imports = dict(imports=['tests.children.pause_hook'], "
        "allow_failed_imports=False)\n"
        f"custom_hooks = [dict(type='DCKDTestPauseHook', marker='{marker}', "
        f"go='{go}', epoch=1)]\n"
        "train_cfg = dict(max_epochs=2)\n")
    first = subprocess.Popen(
        [sys.executable, 'tools/train.py', str(cfg), '--work-dir', work],
        cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    try:
        _wait_for(marker, first, timeout=300)
        before = _snapshot(work)
        assert 'epoch_1.pth' in before and 'cfg.py' in before
        logs = [n for n in os.listdir(work) if osp.isdir(osp.join(work, n))]
        assert len(logs) == 1  # the first run's log folder
        with open(osp.join(work, LOCK_NAME)) as f:
            record = json.load(f)
        assert record['pid'] == first.pid
        assert record['host'] == socket.gethostname()
        assert 'tools/train.py' in record['command']
        for tool, args in (
                ('tools/train.py', [trained['cfg']]),
                ('tools/train.py', [trained['cfg'], '--resume']),
                ('tools/test.py', [trained['cfg'],
                                   osp.join(work, 'epoch_1.pth')])):
            res = run_tool(tool, *args, '--work-dir', work, '--cfg-options',
                           f'experiment_name={run_name("lock")}')
            assert res.returncode == 2, (tool, args, res.stderr[-3000:])
            line = res.stderr.strip().splitlines()[-1]
            assert line.startswith(f'error: work dir {work} is in use by '
                                   f'pid {first.pid} on host '
                                   f'{socket.gethostname()}'), line
            assert 'tools/train.py' in line and '--work-dir' in line
            assert 'Traceback' not in res.stderr
            assert _snapshot(work) == before  # no log folder, cfg.py as was
        open(go, 'w').close()
        out, err = first.communicate(timeout=300)
        assert first.returncode == 0, err[-3000:]
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
    assert osp.isfile(osp.join(work, 'epoch_2.pth'))
    assert not osp.exists(osp.join(work, LOCK_NAME))
    with open(osp.join(work, 'cfg.py')) as f:
        assert 'DCKDTestPauseHook' in f.read()  # still the first run's


def test_a_lock_held_by_a_process_refuses_a_training(trained, holder):
    proc, work = holder
    res = run_tool('tools/train.py', trained['cfg'], '--work-dir', work)
    assert res.returncode == 2
    assert res.stderr.startswith(
        f'error: work dir {work} is in use by pid {proc.pid} on host '
        f'{socket.gethostname()}, started ')
    assert 'holder child' in res.stderr and 'another --work-dir' in res.stderr
    assert os.listdir(work) == [LOCK_NAME]


def test_a_killed_runs_lock_is_taken_over(trained, holder):
    """A lock file left by a SIGKILLed run: the kernel released its flock,
    so the next run takes it, with a warning naming the old pid, and
    trains."""
    proc, work = holder
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with open(osp.join(work, LOCK_NAME)) as f:
        assert json.load(f)['pid'] == proc.pid  # left behind
    res = run_tool('tools/train.py', trained['cfg'], '--work-dir', work,
                   '--cfg-options', 'train_cfg.max_epochs=1',
                   'train_dataloader.dataset.indices=25',  # one iteration
                   f'experiment_name={run_name("stale")}')
    assert res.returncode == 0, res.stderr[-3000:]
    assert (f'warning: work dir {work}: taking over the lock left by pid '
            f'{proc.pid} on host {socket.gethostname()}') in res.stderr
    assert osp.isfile(osp.join(work, 'epoch_1.pth'))
    assert not osp.exists(osp.join(work, LOCK_NAME))  # released at the end


def test_two_locks_in_one_process_exclude_each_other(tmp_path):
    """flock locks belong to an open file: a second open of the same lock
    file is refused even in the same process, so a run in a Python session
    meets a run of the same session."""
    work = str(tmp_path / 'w')
    with hold_work_dir(work, command='one') as first:
        assert first.held and first.created
        second = WorkDirLock(work, command='two')
        with pytest.raises(OutputPathError, match='is in use by pid '
                           f'{os.getpid()}') as info:
            second.acquire()
        assert ': one. Two runs' in str(info.value)
        assert not second.created and not second.held
        assert os.listdir(work) == [LOCK_NAME]
    assert os.listdir(work) == []
    with hold_work_dir(work) as again:  # free once released
        assert again.held and not again.created


def test_a_refused_run_never_removes_the_work_dir(tmp_path):
    """The holder made the work dir; the refused run did not, so a failed
    run's clean-up of the second cannot remove the first's files."""
    work = tmp_path / 'w'
    with hold_work_dir(str(work)):
        (work / 'epoch_1.pth').write_bytes(b'weights')
        lock = WorkDirLock(str(work))
        with pytest.raises(OutputPathError):
            lock.acquire()
        lock.remove_work_dir()  # what run_train does after an error
        assert (work / 'epoch_1.pth').read_bytes() == b'weights'


def test_a_failed_run_removes_only_what_it_created(tmp_path):
    work = tmp_path / 'a' / 'b' / 'work'
    with hold_work_dir(str(work)) as lock:
        (work / '20260101_000000').mkdir()
        lock.remove_work_dir()
    assert not (tmp_path / 'a').exists()  # the folders it made, too
    (tmp_path / 'kept').mkdir()
    with hold_work_dir(str(tmp_path / 'kept')) as lock:
        lock.remove_work_dir()
    assert (tmp_path / 'kept').is_dir()


def test_a_stale_file_of_garbage_is_taken_over(tmp_path, capsys):
    work = tmp_path / 'w'
    work.mkdir()
    (work / LOCK_NAME).write_bytes(b'\x00\x01 not a record')
    with hold_work_dir(str(work)) as lock:
        assert lock.held
        with open(lock.path) as f:
            assert json.load(f)['pid'] == os.getpid()
    assert 'warning' not in capsys.readouterr().err


@pytest.mark.parametrize('launcher,env,rank', [
    ('none', {'RANK': '3'}, 0),  # no launcher: its own run
    ('pytorch', {'RANK': '0'}, 0),
    ('pytorch', {'RANK': '1'}, 1),
    ('slurm', {'SLURM_PROCID': '5'}, 5),
    ('mpi', {'OMPI_COMM_WORLD_RANK': '2'}, 2),
    ('pytorch', {}, 0),
])
def test_global_rank_before_the_process_group(monkeypatch, launcher, env,
                                              rank):
    for name in ('RANK', 'SLURM_PROCID', 'OMPI_COMM_WORLD_RANK'):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert global_rank(launcher) == rank


def test_only_rank_zero_locks(tmp_path, monkeypatch):
    """The other ranks of a distributed run neither lock, create nor
    remove the work dir, even while rank 0 holds it."""
    work = str(tmp_path / 'w')
    monkeypatch.setenv('RANK', '1')
    with hold_work_dir(work, 'pytorch') as lock:
        assert not lock.held and not lock.created
        assert not osp.exists(work)
    monkeypatch.setenv('RANK', '0')
    with hold_work_dir(work, 'pytorch') as rank0:
        assert rank0.held
        monkeypatch.setenv('RANK', '1')
        with hold_work_dir(work, 'pytorch') as other:
            assert not other.held
            other.remove_work_dir()
        assert osp.isfile(rank0.path)
