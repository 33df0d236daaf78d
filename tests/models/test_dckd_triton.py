# Copyright (c) dckd_mm contributors. All rights reserved.
"""The fused Triton kernel against the PyTorch path, on the CPU through
Triton's interpreter: every mask rule, C = 2, 81, 100 and 1000, logits of
1e4, equal rows and an empty batch; values and gradients under random
upstream weights."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
pytest.importorskip('triton')


@pytest.fixture(scope='module')
def results():
    env = dict(os.environ, TRITON_INTERPRET='1', OMP_NUM_THREADS='1',
               PYTHONPATH=ROOT)
    proc = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tests', 'triton_interpret_child.py')],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def test_every_rule_and_size_is_covered(results):
    from dckd_mm.models.losses.dckd_loss import MASK_RULES
    seen = {(r['rule'], r['c']) for r in results}
    for rule in MASK_RULES:
        for c in (2, 81, 100, 1000):
            assert (rule, c) in seen


def test_kernel_matches_the_pytorch_path(results):
    for r in results:
        assert r['finite'], r
        skd_mag, pkd_mag, grad_mag = r['mags']
        if r['scale'] < 100:
            tol = 1e-4
            assert r['skd'] <= tol * max(1.0, skd_mag), r
            assert r['pkd'] <= tol * max(1.0, pkd_mag), r
            assert r['grad'] <= 1e-5 * max(1.0, grad_mag), r
        else:
            # |z / tau| ~ 2500: float32 log-softmax rounding differs
            # between the two orders of evaluation at ~1e-4 relative
            assert r['skd'] <= 1e-3 * max(1.0, skd_mag), r
            assert r['pkd'] <= 1e-3 * max(1.0, pkd_mag), r
            assert r['grad'] <= 1e-3 * max(1.0, grad_mag), r


def test_dispatch_only_on_cuda():
    import torch

    from dckd_mm.models.losses.dckd_triton import triton_available
    assert not triton_available(torch.zeros(2, 10))


def test_a_kernel_that_cannot_be_built_falls_back_once(monkeypatch):
    """If the kernel fails on its first call (a toolchain problem on the
    user's GPU), dckd_loss warns once and keeps the PyTorch path."""
    import torch

    from dckd_mm.models.losses import dckd_triton

    def broken(*args, **kwargs):
        raise RuntimeError('no compiler for this GPU')

    monkeypatch.setattr(dckd_triton, '_KERNEL_OK', None)
    monkeypatch.setattr(dckd_triton, 'dckd_parts_triton', broken)
    s = torch.zeros(2, 5)
    with pytest.warns(UserWarning, match='no compiler for this GPU'):
        assert dckd_triton.parts_or_none(s, s, torch.zeros(2).long(), 4.0,
                                         'none') == (None, None)
    assert dckd_triton._KERNEL_OK is False
    # once it ran, later errors are not swallowed
    monkeypatch.setattr(dckd_triton, '_KERNEL_OK', True)
    with pytest.raises(RuntimeError, match='no compiler'):
        dckd_triton.parts_or_none(s, s, torch.zeros(2).long(), 4.0, 'none')
