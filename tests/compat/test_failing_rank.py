# Copyright (c) dckd_mm contributors. All rights reserved.
"""Two gloo processes: one rank's error ends the whole job promptly, with
the error printed (no barrier on the error path); ``tools/dist_train.sh``
takes paths relative to the caller and picks gloo on CPU by itself."""
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import torch
from mmengine.config import Config

import dckd_mm  # noqa: F401
from tests.helpers import free_port, save_teacher_ckpt

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def write_config(tmp_path, extra: str = '') -> str:
    teacher = str(tmp_path / 'teacher.pth')
    path = tmp_path / 'cfg.py'
    path.write_text(
        f"_base_ = ['{ROOT}/configs/demo/"
        "dckd_resnet20_resnet8_1xb64_digits.py']\n"
        "train_pipeline = [dict(type='PackInputs')]\n"
        "train_dataloader = dict(batch_size=25, dataset=dict("
        "indices=100, pipeline=train_pipeline))\n"
        "train_cfg = dict(max_epochs=1, val_interval=100)\n"
        "default_hooks = dict(logger=dict(interval=1), "
        "checkpoint=dict(interval=1))\n"
        f"model = dict(teacher_ckpt='{teacher}')\n" + extra)
    save_teacher_ckpt(Config.fromfile(str(path)).model.teacher.to_dict(),
                      teacher)
    return str(path)


def run(args: list, cwd: str, timeout: int, tmp_dir: str) -> tuple:
    """Run ``args`` in its own session; on timeout kill the whole group
    (torchrun and its workers) and return returncode None. torchrun's
    temporary folders go to ``tmp_dir`` (the test's), not into /tmp."""
    env = dict(os.environ, PYTHON=sys.executable, TMPDIR=tmp_dir,
               PORT=str(free_port()))
    start = time.perf_counter()
    proc = subprocess.Popen(args, cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        code = None
    return code, out, err, time.perf_counter() - start


def test_one_failing_rank_ends_the_job(tmp_path):
    """Rank 0 fails (a full disk) after iteration 2 while rank 1 goes on
    into iteration 3's gradient all-reduce. The job must end within a
    minute and print the error; with the barrier in run_train's error path
    it waited for gloo's 30-minute timeout, printing nothing."""
    cfg = write_config(
        tmp_path, "custom_imports = dict(imports=["
        "'tests.compat.failing_rank_hook'], allow_failed_imports=False)\n"
        "custom_hooks = [dict(type='FailOnRank', rank=0, at_iter=2)]\n"
        "env_cfg = dict(dist_cfg=dict(backend='gloo'))\n")
    code, _, err, seconds = run(
        ['bash', 'tools/dist_train.sh', cfg, '2', '--work-dir',
         str(tmp_path / 'w')], ROOT, timeout=150,
        tmp_dir=str(tmp_path))
    assert code is not None, f'hung for {seconds:.0f} s: {err[-2000:]}'
    assert code != 0
    assert 'No space left on device' in err
    assert seconds < 120


def test_dist_train_relative_paths_and_gloo_on_cpu(tmp_path):
    """Called from another folder with a relative config path and no
    backend setting: runs (gloo chosen without a GPU) and writes its
    checkpoint where the caller asked."""
    write_config(tmp_path)
    script = osp.join(ROOT, 'tools', 'dist_train.sh')
    code, _, err, _ = run(['bash', script, 'cfg.py', '2', '--work-dir', 'w'],
                          str(tmp_path), timeout=300, tmp_dir=str(tmp_path))
    assert code == 0, err[-3000:]
    assert osp.isfile(tmp_path / 'w' / 'epoch_1.pth')
    if not torch.cuda.is_available():
        assert 'ProcessGroupNCCL' not in err


def test_dist_train_usage_errors(tmp_path):
    script = osp.join(ROOT, 'tools', 'dist_train.sh')
    code, _, err, _ = run(['bash', script, 'missing.py', '2'], str(tmp_path),
                          timeout=60, tmp_dir=str(tmp_path))
    assert code == 2 and 'missing.py does not exist' in err
    code, _, err, _ = run(['bash', script, 'missing.py', 'two'],
                          str(tmp_path), timeout=60, tmp_dir=str(tmp_path))
    assert code == 2 and 'usage' in err
