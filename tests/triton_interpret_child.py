# Copyright (c) dckd_mm contributors. All rights reserved.
"""Child process of tests/models/test_dckd_triton.py: runs the fused DCKD
kernel on the CPU through Triton's interpreter (the flag must be set before
the kernel is defined) and prints, per case, the largest differences from
the PyTorch path as one JSON object."""
import json
import os
import sys

os.environ['TRITON_INTERPRET'] = '1'

import torch  # noqa: E402

from dckd_mm.models.losses.dckd_loss import _torch_parts  # noqa: E402
from dckd_mm.models.losses.dckd_triton import RULE_IDS  # noqa: E402
from dckd_mm.models.losses.dckd_triton import dckd_parts_triton  # noqa: E402


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
    for name, fn in (('triton', dckd_parts_triton), ('torch', _torch_parts)):
        x = s.clone().requires_grad_()
        skd, pkd = fn(x, t, y, 4.0, rule)
        ((skd * w_skd).sum() + (pkd * w_pkd).sum()).backward()
        out[name] = (skd.detach(), pkd.detach(), x.grad)
    diffs = [float((a - b).abs().max()) if a.numel() else 0.0
             for a, b in zip(out['triton'], out['torch'])]
    mags = [float(b.abs().max()) if b.numel() else 0.0
            for b in out['torch']]
    finite = all(bool(torch.isfinite(a).all()) for a in out['triton'])
    return dict(n=n, c=c, rule=rule, scale=scale, skd=diffs[0],
                pkd=diffs[1], grad=diffs[2], mags=mags, finite=finite)


def main() -> None:
    results = []
    for rule in RULE_IDS:
        for c in (2, 81, 100, 1000):
            results.append(case(8, c, rule, 3.0, seed=c))
        results.append(case(4, 100, rule, 1e4, seed=7))  # huge logits
    results.append(case(0, 10, 'as_good_as_teacher', 1.0, seed=1))
    json.dump(results, sys.stdout)


if __name__ == '__main__':
    main()
