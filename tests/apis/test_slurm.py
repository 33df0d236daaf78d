# Copyright (c) dckd_mm contributors. All rights reserved.
"""tools/slurm_{train,test}.sh build the srun command the hosts' scripts
build (checked with a stand-in srun that prints its arguments)."""
import os
import os.path as osp
import subprocess

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CFG = 'configs/dckd/res32x4_res8x4_cifar100.py'


@pytest.fixture
def fake_srun(tmp_path):
    srun = tmp_path / 'srun'
    srun.write_text('#!/usr/bin/env bash\nprintf "%s\\n" "$@"\n')
    srun.chmod(0o755)
    return dict(os.environ, PATH=f'{tmp_path}:{os.environ["PATH"]}',
                GPUS='16', GPUS_PER_NODE='8')


@pytest.mark.parametrize('kind', ['train', 'test'])
def test_srun_command(kind, fake_srun):
    last = 'work_dirs/x' if kind == 'train' else 'ckpt.pth'
    proc = subprocess.run(
        ['bash', f'tools/slurm_{kind}.sh', 'gpu', 'job', CFG, last, '--amp'],
        cwd=ROOT, env=fake_srun, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    args = proc.stdout.splitlines()
    assert args[:3] == ['-p', 'gpu', '--job-name=job']
    assert '--ntasks=16' in args and '--ntasks-per-node=8' in args
    assert '--gres=gpu:8' in args and '--kill-on-bad-exit=1' in args
    assert args[args.index('-u') + 1] == osp.join(ROOT, 'tools',
                                                  f'{kind}.py')
    tail = args[args.index('-u') + 2:]
    if kind == 'train':
        assert tail == [CFG, '--work-dir', last, '--launcher', 'slurm',
                        '--amp']
    else:
        assert tail == [CFG, last, '--launcher', 'slurm', '--amp']


@pytest.mark.parametrize('kind', ['train', 'test'])
def test_usage_and_missing_config(kind, fake_srun):
    proc = subprocess.run(['bash', f'tools/slurm_{kind}.sh', 'gpu'],
                          cwd=ROOT, env=fake_srun, capture_output=True,
                          text=True)
    assert proc.returncode == 2 and 'usage' in proc.stderr
    proc = subprocess.run(
        ['bash', f'tools/slurm_{kind}.sh', 'gpu', 'j', 'nope.py', 'x'],
        cwd=ROOT, env=fake_srun, capture_output=True, text=True)
    assert proc.returncode == 2 and 'does not exist' in proc.stderr
