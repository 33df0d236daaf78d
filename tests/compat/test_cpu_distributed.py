# Copyright (c) dckd_mm contributors. All rights reserved.
"""Two-process training on CPU (gloo) through tools/dist_train.sh matches a
one-process run with the same total batch."""
import json
import math
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

import dckd_mm  # noqa: F401
from dckd_mm.compat import safe_load
from tests.helpers import free_port, save_teacher_ckpt

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# run as a module from the repository root, so that it imports this
# checkout's dckd_mm
CHILD = ['-m', 'tests.children.dist_child']


def test_without_fix_mmengine_cannot_start_on_cpu():
    if torch.cuda.is_available():
        pytest.skip('the breakage only exists without a GPU')
    port = str(free_port())
    bad = subprocess.run([sys.executable, *CHILD, port, '--without-fix'],
                         cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert bad.returncode != 0 and 'NVIDIA driver' in bad.stderr
    good = subprocess.run([sys.executable, *CHILD, str(free_port())],
                          cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert good.returncode == 0 and 'ok' in good.stdout, good.stderr[-2000:]


def losses(work_dir: str) -> list:
    path = next(osp.join(r, f) for r, _, fs in os.walk(work_dir)
                for f in fs if f == 'scalars.json')
    with open(path) as f:
        rows = [json.loads(line) for line in f]
    return [r['loss'] for r in rows if 'loss' in r]


def test_two_processes_match_one(tmp_path):
    cfg_path = tmp_path / 'cfg.py'
    teacher = str(tmp_path / 'teacher.pth')
    cfg_path.write_text(
        f"_base_ = ['{ROOT}/configs/demo/"
        "dckd_resnet20_resnet8_1xb64_digits.py']\n"
        "train_pipeline = [dict(type='PackInputs')]\n"
        "train_dataloader = dict(batch_size=16, dataset=dict("
        "pipeline=train_pipeline))\n"
        "train_cfg = dict(max_epochs=2, val_interval=100)\n"
        f"model = dict(teacher_ckpt='{teacher}')\n"
        "env_cfg = dict(dist_cfg=dict(backend='gloo'))\n"
        "default_hooks = dict(logger=dict(interval=1))\n")
    from mmengine.config import Config
    save_teacher_ckpt(Config.fromfile(str(cfg_path)).model.teacher.to_dict(),
                      teacher)
    # TMPDIR: torchrun's per-run folders go with the test's, not into /tmp
    env = dict(os.environ, PYTHON=sys.executable, TMPDIR=str(tmp_path),
               PORT=str(free_port()))
    two = subprocess.run(
        ['bash', 'tools/dist_train.sh', str(cfg_path), '2', '--work-dir',
         str(tmp_path / 'two')], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=600)
    assert two.returncode == 0, two.stderr[-3000:]
    one = subprocess.run(
        [sys.executable, 'tools/train.py', str(cfg_path), '--work-dir',
         str(tmp_path / 'one'), '--cfg-options',
         'train_dataloader.batch_size=32'], cwd=ROOT, capture_output=True,
        text=True, timeout=600)
    assert one.returncode == 0, one.stderr[-3000:]
    l1, l2 = losses(str(tmp_path / 'one')), losses(str(tmp_path / 'two'))
    assert len(l1) == len(l2) == 14
    assert all(math.isfinite(v) for v in l1 + l2)
    # rank 0 logs its half of each global batch; BatchNorm sees 16 instead
    # of 32 samples: curves agree within 2% per iteration (measured:
    # 0.05% on the first iterations)
    for a, b in zip(l1, l2):
        assert abs(a - b) <= 0.02 * abs(a), (l1, l2)
    a = safe_load(str(tmp_path / 'one' / 'epoch_2.pth'))['state_dict']
    b = safe_load(str(tmp_path / 'two' / 'epoch_2.pth'))['state_dict']
    num = den = 0.0
    for k in a:
        if k.startswith('architecture.') and a[k].is_floating_point():
            num += float((a[k] - b[k]).pow(2).sum())
            den += float(a[k].pow(2).sum())
        if k.startswith('teacher.'):
            assert torch.equal(a[k], b[k]), k
    # measured 1.75% relative L2 after 14 iterations
    assert math.sqrt(num / den) < 0.05
