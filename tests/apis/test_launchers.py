# Copyright (c) dckd_mm contributors. All rights reserved.
"""The launchers: the torchrun command ``tools/dist_{train,test}.sh``
build for one and several nodes; all four scripts replace themselves with
their launcher (a signal to the script reaches it); and a real two-process
run stopped by SIGTERM or SIGINT in the middle of a checkpoint write ends
every process, leaves only complete checkpoints and resumes."""
import os
import os.path as osp
import signal
import subprocess
import sys
import time
from typing import Dict, List

import pytest
from mmengine.config import Config

import dckd_mm  # noqa: F401
from dckd_mm.compat import safe_load
from tests.helpers import free_port, run_tool, save_teacher_ckpt

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CFG = 'configs/dckd/res32x4_res8x4_cifar100.py'

# A stand-in for python / srun: records its pid, its parent, its argv and
# two variables, then waits for a signal and records which one came.
FAKE = r'''#!/usr/bin/env bash
log=$FAKE_LOG
printf '%s\n' "$@" > "$log.args"
printf 'GLOO_SOCKET_IFNAME=%s\nPYTHONPATH=%s\n' \
    "${GLOO_SOCKET_IFNAME-<unset>}" "${PYTHONPATH-<unset>}" > "$log.env"
trap 'echo TERM > "$log.signal"; exit 143' TERM
trap 'echo INT > "$log.signal"; exit 130' INT
echo "$$" > "$log.pid.tmp" && mv "$log.pid.tmp" "$log.pid"
[ -n "${FAKE_WAIT:-}" ] || exit 0
for _ in $(seq 600); do sleep 0.05; done
exit 3
'''


@pytest.fixture
def fake(tmp_path) -> Dict[str, str]:
    """An environment whose ``$PYTHON`` and ``srun`` are the stand-in."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    for name in ('python', 'srun'):
        path = bin_dir / name
        path.write_text(FAKE)
        path.chmod(0o755)
    env = {k: v for k, v in os.environ.items()
           if k not in ('NNODES', 'NODE_RANK', 'MASTER_ADDR', 'PORT',
                        'GLOO_SOCKET_IFNAME', 'PYTHONPATH')}
    env.update(PATH=f'{bin_dir}:{os.environ["PATH"]}',
               PYTHON=str(bin_dir / 'python'),
               FAKE_LOG=str(tmp_path / 'fake'))
    return env


def _read(env: Dict[str, str], what: str) -> List[str]:
    with open(f'{env["FAKE_LOG"]}.{what}') as f:
        return f.read().splitlines()


def _launch(script: str, args: List[str], env: Dict[str, str],
            **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(['bash', f'tools/{script}', *args], cwd=ROOT,
                          env=dict(env, **extra), capture_output=True,
                          text=True, timeout=60)


# -- the torchrun command, one node and several --
def torchrun_args(nnodes, node_rank, addr, port, nprocs) -> List[str]:
    return ['-m', 'torch.distributed.run', f'--nnodes={nnodes}',
            f'--node_rank={node_rank}', f'--master_addr={addr}',
            f'--master_port={port}', f'--nproc_per_node={nprocs}']


def test_dist_train_one_node_command(fake):
    proc = _launch('dist_train.sh', [CFG, '2', '--amp'], fake)
    assert proc.returncode == 0, proc.stderr
    assert _read(fake, 'args') == torchrun_args(
        1, 0, '127.0.0.1', 29500, 2) + [
            osp.join(ROOT, 'tools', 'train.py'), CFG, '--launcher',
            'pytorch', '--amp']
    # one node: gloo over loopback; the repository first on the path,
    # without an empty entry (the current folder) behind it
    assert _read(fake, 'env') == ['GLOO_SOCKET_IFNAME=lo',
                                  f'PYTHONPATH={ROOT}']


def test_dist_test_two_node_command(fake):
    ckpt = osp.join(ROOT, 'README.md')  # any existing file
    proc = _launch('dist_test.sh', [CFG, ckpt, '4', '--out', 'p.pkl'], fake,
                   NNODES='2', NODE_RANK='1', MASTER_ADDR='10.1.2.3',
                   PORT='29612', PYTHONPATH='/elsewhere')
    assert proc.returncode == 0, proc.stderr
    assert _read(fake, 'args') == torchrun_args(
        2, 1, '10.1.2.3', 29612, 4) + [
            osp.join(ROOT, 'tools', 'test.py'), CFG, ckpt, '--launcher',
            'pytorch', '--out', 'p.pkl']
    # several nodes talk over the network: no loopback default
    assert _read(fake, 'env') == ['GLOO_SOCKET_IFNAME=<unset>',
                                  f'PYTHONPATH={ROOT}:/elsewhere']


def test_dist_train_two_node_command_keeps_a_chosen_interface(fake):
    proc = _launch('dist_train.sh', [CFG, '8'], fake, NNODES='2',
                   MASTER_ADDR='node0', GLOO_SOCKET_IFNAME='eth1')
    assert proc.returncode == 0, proc.stderr
    assert _read(fake, 'args')[:7] == torchrun_args(2, 0, 'node0', 29500, 8)
    assert _read(fake, 'env')[0] == 'GLOO_SOCKET_IFNAME=eth1'


@pytest.mark.parametrize('settings, message', [
    (dict(NNODES='2'), 'NNODES=2 needs MASTER_ADDR'),
    (dict(NNODES='0'), 'NNODES=0'),
    (dict(NNODES='two'), 'NNODES=two'),
    (dict(NNODES='2', NODE_RANK='2', MASTER_ADDR='a'), 'from 0 to 1'),
    (dict(NODE_RANK='-1'), 'NODE_RANK=-1'),
    (dict(PORT='70000'), 'PORT=70000'),
    (dict(PORT='x'), 'PORT=x'),
])
@pytest.mark.parametrize('script', ['dist_train.sh', 'dist_test.sh'])
def test_bad_node_settings_are_refused(fake, script, settings, message):
    args = [CFG, '2'] if script == 'dist_train.sh' else [CFG, CFG, '2']
    proc = _launch(script, args, fake, **settings)
    assert proc.returncode == 2
    assert proc.stderr.startswith('error: ') and message in proc.stderr
    assert not osp.exists(fake['FAKE_LOG'] + '.args')  # nothing launched


@pytest.mark.parametrize('script, args', [
    ('dist_train.sh', [CFG]), ('dist_train.sh', [CFG, '0']),
    ('dist_test.sh', [CFG, CFG]), ('dist_test.sh', [CFG, CFG, 'x'])])
def test_usage_errors_stay(fake, script, args):
    proc = _launch(script, args, fake)
    assert proc.returncode == 2 and proc.stderr.startswith('usage: ')


@pytest.mark.parametrize('script, args, missing', [
    ('dist_train.sh', ['missing.py', '2'], 'missing.py'),
    ('dist_test.sh', [CFG, 'missing.pth', '2'], 'missing.pth')])
def test_missing_files_stay_refused(fake, script, args, missing):
    proc = _launch(script, args, fake)
    assert proc.returncode == 2
    assert proc.stderr.startswith('error: ') and \
        f'{missing} does not exist' in proc.stderr


# -- every script becomes its launcher: a signal to it reaches the launcher
SCRIPTS = {
    'dist_train.sh': [CFG, '2'],
    'dist_test.sh': [CFG, CFG, '2'],
    'slurm_train.sh': ['gpu', 'job', CFG, 'work_dirs/x'],
    'slurm_test.sh': ['gpu', 'job', CFG, CFG],
}


@pytest.mark.parametrize('sig', [signal.SIGTERM, signal.SIGINT],
                         ids=['SIGTERM', 'SIGINT'])
@pytest.mark.parametrize('script', sorted(SCRIPTS))
def test_script_execs_its_launcher(fake, script, sig):
    """The stand-in launcher runs under the script's own pid (``exec``):
    a signal sent to the script is the launcher's, and the script's exit
    status is the launcher's. A shell waiting for its child would take the
    signal itself and leave the launcher running."""
    proc = subprocess.Popen(['bash', f'tools/{script}', *SCRIPTS[script]],
                            cwd=ROOT, env=dict(fake, FAKE_WAIT='1'),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        pid_file = fake['FAKE_LOG'] + '.pid'
        end = time.monotonic() + 30
        while not osp.exists(pid_file) and time.monotonic() < end:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        assert _read(fake, 'pid') == [str(proc.pid)]
        launcher = 'srun' if script.startswith('slurm') else 'python'
        assert _read(fake, 'args')[0] == (
            '-p' if launcher == 'srun' else '-m')
        proc.send_signal(sig)
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert _read(fake, 'signal') == [sig.name[3:]]
    assert code == 128 + sig


# -- a real two-process run, stopped while rank 0 writes a checkpoint --
def _config(tmp_path) -> str:
    """The tiny digits SimKD + DCKD config (100 images; 2 iterations an
    epoch on 2 x 25), a checkpoint every epoch, and the hook that makes
    rank 0 stall half way through writing the checkpoint that
    ``DCKD_TEST_STALL`` names."""
    teacher = str(tmp_path / 'teacher.pth')
    path = tmp_path / 'cfg.py'
    path.write_text(
        f"_base_ = ['{ROOT}/configs/demo/"
        "dckd_resnet20_resnet8_1xb64_digits.py']\n"
        "custom_imports = dict(imports=['dckd_mm', "
        "'tests.apis.stall_checkpoint'], allow_failed_imports=False)\n"
        "train_pipeline = [dict(type='PackInputs')]\n"
        "train_dataloader = dict(batch_size=25, dataset=dict("
        "indices=100, pipeline=train_pipeline))\n"
        "train_cfg = dict(max_epochs=3, val_interval=100)\n"
        "default_hooks = dict(logger=dict(interval=1), "
        "checkpoint=dict(interval=1, max_keep_ckpts=-1))\n"
        f"model = dict(teacher_ckpt='{teacher}')\n")
    save_teacher_ckpt(Config.fromfile(str(path)).model.teacher.to_dict(),
                      teacher)
    return str(path)


def _start_time(pid: int) -> str:
    """Field 22 of /proc/PID/stat (start time), or '' when gone or a
    zombie: a pid is the same process only with the same start time."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            fields = f.read().rsplit(')', 1)[1].split()
    except OSError:
        return ''
    return '' if fields[0] in 'ZX' else fields[19]


def _cmdline(pid: int) -> str:
    try:
        with open(f'/proc/{pid}/cmdline', 'rb') as f:
            return f.read().replace(b'\0', b' ').decode()
    except OSError:
        return ''


def _descendants(root: int) -> Dict[int, str]:
    """Every living process under ``root`` (``root`` included), by the
    parent chain in /proc (the workers run in sessions of their own, so
    a process group would miss them): pid -> start time."""
    children: Dict[int, List[int]] = {}
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        try:
            with open(f'/proc/{name}/stat') as f:
                ppid = int(f.read().rsplit(')', 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(name))
    found, todo = {}, [root]
    while todo:
        pid = todo.pop()
        start = _start_time(pid)
        if start:
            found[pid] = start
            todo.extend(children.get(pid, []))
    return found


@pytest.mark.parametrize('sig', [signal.SIGTERM, signal.SIGINT],
                         ids=['SIGTERM', 'SIGINT'])
def test_signal_stops_every_rank_and_the_run_resumes(tmp_path, sig):
    cfg = _config(tmp_path)
    work = tmp_path / 'work'
    marker = tmp_path / 'stalled'
    env = dict(os.environ, PYTHON=sys.executable, TMPDIR=str(tmp_path),
               PORT=str(free_port()), DCKD_TEST_STALL='epoch_2.pth',
               DCKD_TEST_STALL_MARKER=str(marker))
    proc = subprocess.Popen(
        ['bash', 'tools/dist_train.sh', cfg, '2', '--work-dir', str(work)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True, start_new_session=True)
    run: Dict[int, str] = {}
    try:
        end = time.monotonic() + 300
        while not marker.exists():
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            assert time.monotonic() < end, 'the run never reached epoch 2'
            time.sleep(0.1)
        # rank 0 is half way through epoch_2.pth.partial
        assert (work / 'epoch_2.pth.partial').exists()
        run = _descendants(proc.pid)
        # the script's pid is torchrun's (exec), with the two ranks below
        assert 'torch.distributed.run' in _cmdline(proc.pid)
        ranks = [p for p in run if 'tools/train.py' in _cmdline(p)
                 and 'torch.distributed.run' not in _cmdline(p)]
        assert len(ranks) == 2, {p: _cmdline(p) for p in run}
        sent = time.monotonic()
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=90)
        alive = run
        while alive and time.monotonic() < sent + 90:
            alive = {p: s for p, s in run.items() if _start_time(p) == s}
            time.sleep(0.1)
        seconds = time.monotonic() - sent
    finally:
        # whatever failed: leave nothing running
        for pid, start in run.items():
            if _start_time(pid) == start:
                os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert not alive, {p: _cmdline(p) for p in alive}
    assert proc.returncode != 0
    assert seconds < 60
    if sig == signal.SIGTERM:
        assert err.count('stopped by SIGTERM') == 2, err[-3000:]
    # the write in progress was abandoned whole: no .partial, the previous
    # checkpoint complete and named by last_checkpoint
    names = sorted(os.listdir(work))
    assert not [n for n in names if n.endswith('.partial')], names
    assert 'epoch_2.pth' not in names
    assert safe_load(str(work / 'epoch_1.pth'))['meta']['epoch'] == 1
    assert (work / 'last_checkpoint').read_text().strip() == str(
        work / 'epoch_1.pth')
    # --resume continues from epoch 1 (here in one process: 4 iterations
    # an epoch instead of 2; the shorter run is a config change, accepted)
    res = run_tool('tools/train.py', cfg, '--work-dir', str(work),
                   '--resume', '--resume-with-changes', '--cfg-options',
                   'train_cfg.max_epochs=2')
    assert res.returncode == 0, res.stderr[-3000:]
    meta = safe_load(str(work / 'epoch_2.pth'))['meta']
    assert (meta['epoch'], meta['iter']) == (2, 2 + 4)
