# Copyright (c) dckd_mm contributors. All rights reserved.
"""Child process of tests/models/losses/test_dckd_triton.py: runs the fused
DCKD kernel on the CPU through Triton's interpreter (the flag must be set
before the kernel is defined) through the public API, and prints one JSON
object: per case the largest differences from the PyTorch path, the
self-check's record, the host reads of a verified call and what a corrupted
kernel result leads to."""
import json
import os
import sys
import warnings

os.environ['TRITON_INTERPRET'] = '1'

import torch  # noqa: E402

from dckd_mm.errors import UnsupportedHostError  # noqa: E402
from dckd_mm.models.losses import dckd_parts  # noqa: E402
from dckd_mm.models.losses import (MASK_RULES, backend,  # noqa: E402
                                   dckd_loss, triton_kernel)

PKG = os.path.dirname(os.path.dirname(os.path.abspath(
    triton_kernel.__file__)))
HOST_READS = ('item', 'tolist', 'nonzero', '__bool__', '__int__',
              '__float__', '__index__')


def case(n: int, c: int, rule: str, scale: float, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    s = torch.randn(n, c, generator=g) * scale
    t = torch.randn(n, c, generator=g) * scale
    y = torch.randint(0, c, (n, ), generator=g)
    if n > 1:
        t[1] = s[1]  # equal rows: everything acquired under the rules
    w_skd = torch.rand(n, generator=g)
    w_pkd = torch.rand(n, generator=g)
    out = {}
    for name in ('triton', 'torch'):
        x = s.clone().requires_grad_()
        skd, pkd = dckd_parts(x, t, y, mask=rule, backend=name)
        ((skd * w_skd).sum() + (pkd * w_pkd).sum()).backward()
        out[name] = (skd.detach(), pkd.detach(), x.grad)
    diffs = [float((a - b).abs().max()) if a.numel() else 0.0
             for a, b in zip(out['triton'], out['torch'])]
    mags = [float(b.abs().max()) if b.numel() else 0.0
            for b in out['torch']]
    finite = all(bool(torch.isfinite(a).all()) for a in out['triton'])
    return dict(n=n, c=c, rule=rule, scale=scale, skd=diffs[0],
                pkd=diffs[1], grad=diffs[2], mags=mags, finite=finite)


def host_reads_of_a_verified_call() -> list:
    """Host reads made from dckd_mm's files by a second call of a key."""
    s, t = torch.randn(8, 50), torch.randn(8, 50)
    y = torch.randint(0, 50, (8, ))
    x = s.clone().requires_grad_()
    dckd_loss(x, t, y).backward()  # first call: the self-check
    calls = []
    saved = {name: getattr(torch.Tensor, name) for name in HOST_READS}

    def wrap(name, orig):
        def wrapper(tensor, *args, **kwargs):
            frame = sys._getframe(1)
            if frame.f_code.co_filename.startswith(PKG):
                calls.append(f'{name} at {frame.f_code.co_filename}:'
                             f'{frame.f_lineno}')
            return orig(tensor, *args, **kwargs)
        return wrapper

    for name, orig in saved.items():
        setattr(torch.Tensor, name, wrap(name, orig))
    try:
        x = s.clone().requires_grad_()
        loss = dckd_loss(x, t, y)
        loss.backward()
    finally:
        for name, orig in saved.items():
            setattr(torch.Tensor, name, orig)
    assert type(loss.grad_fn).__name__ == '_DCKDTritonBackward'
    return calls


def corrupted_kernel() -> dict:
    """The real kernel's SKD off by 1 %: 'auto' must warn once and keep the
    PyTorch path for the key; 'triton' must raise."""
    real = triton_kernel.launch

    def wrong(*args, **kwargs):
        skd, pkd, gs, gp = real(*args, **kwargs)
        return skd * 1.01, pkd, gs, gp

    backend.reset_self_check()
    triton_kernel.launch = wrong
    s, t = torch.randn(16, 30) * 3, torch.randn(16, 30) * 3
    y = torch.randint(0, 30, (16, ))
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            first = dckd_loss(s.clone().requires_grad_(), t, y)
            second = dckd_loss(s.clone().requires_grad_(), t, y)
        try:
            dckd_loss(s, t, y, backend='triton')
            raised = ''
        except UnsupportedHostError as err:
            raised = str(err)
    finally:
        triton_kernel.launch = real
    ref = dckd_loss(s, t, y, backend='torch')
    # (the interpreter's numpy RuntimeWarnings on masked-off lanes aside)
    return dict(warnings=[str(w.message) for w in caught
                          if issubclass(w.category, UserWarning)],
                first=type(first.grad_fn).__name__,
                second=type(second.grad_fn).__name__,
                equal=bool(first == ref) and bool(second == ref),
                raised=raised,
                state={str(k): v for k, v in backend.verified_keys().items()})


def main() -> None:
    results = []
    for rule in MASK_RULES:
        for c in (2, 81, 100, 1000):
            results.append(case(8, c, rule, 3.0, seed=c))
        results.append(case(4, 100, rule, 1e4, seed=7))  # huge logits
    results.append(case(0, 10, 'as_good_as_teacher', 1.0, seed=1))
    keys = {str(k): v for k, v in backend.verified_keys().items()}
    out = dict(cases=results, keys=keys,
               host_reads=host_reads_of_a_verified_call(),
               corrupted=corrupted_kernel())
    json.dump(out, sys.stdout)


if __name__ == '__main__':
    main()
