# Copyright (c) dckd_mm contributors. All rights reserved.
"""Forward+backward time of logit losses: DCKD, mmrazor's DKDLoss, KD
(mmrazor's KLDivergence) and a bare ``log_softmax`` (the floor)."""
import statistics
import time
from typing import Callable, Dict, List, Sequence, Tuple

import torch
from torch import Tensor

__all__ = ['loss_functions', 'time_losses', 'format_speed_table']

SIZES: Tuple[Tuple[int, int], ...] = ((64, 100), (256, 1000), (512, 81))


def loss_functions() -> Dict[str, Callable[[Tensor, Tensor, Tensor],
                                           Tensor]]:
    import warnings

    from mmrazor.models.losses import DKDLoss, KLDivergence

    from ..models.losses import DCKDLoss
    dckd = DCKDLoss(tau=4.0, alpha=1.0, beta=0.5)
    dkd = DKDLoss(tau=4.0, alpha=1.0, beta=0.5, reduction='batchmean')
    kd = KLDivergence(tau=4.0, reduction='batchmean')
    warnings.filterwarnings('ignore', message='size_average')

    def floor(s: Tensor, t: Tensor, y: Tensor) -> Tensor:
        return torch.log_softmax(s / 4.0, dim=1).sum()

    return {
        'DCKD': dckd,
        'DKDLoss (mmrazor)': dkd,
        'KD (KLDivergence)': lambda s, t, y: kd(s, t),
        'log_softmax floor': floor,
    }


def time_losses(sizes: Sequence[Tuple[int, int]] = SIZES,
                repeats: int = 200, inner: int = 5,
                device: str = 'cpu') -> List[dict]:
    """Median seconds per forward+backward, interleaving the losses so that
    machine noise hits them alike."""
    fns = loss_functions()
    rows = []
    for n, c in sizes:
        g = torch.Generator().manual_seed(0)
        s = (torch.randn(n, c, generator=g) * 3).to(device)
        t = (torch.randn(n, c, generator=g) * 3).to(device)
        y = torch.randint(0, c, (n, ), generator=g).to(device)
        times: Dict[str, List[float]] = {k: [] for k in fns}
        for name, fn in fns.items():  # warm-up
            x = s.clone().requires_grad_()
            fn(x, t, y).backward()
        for _ in range(repeats):
            for name, fn in fns.items():
                x = s.clone().requires_grad_()
                if device != 'cpu':
                    torch.cuda.synchronize()
                start = time.perf_counter()
                for _ in range(inner):
                    fn(x, t, y).backward()
                if device != 'cpu':
                    torch.cuda.synchronize()
                times[name].append((time.perf_counter() - start) / inner)
        med = {k: statistics.median(v) for k, v in times.items()}
        rows.append(dict(N=n, C=c, seconds=med,
                         dckd_vs_dkd=med['DCKD'] / med['DKDLoss (mmrazor)'],
                         dckd_vs_floor=med['DCKD'] /
                         med['log_softmax floor']))
    return rows


def format_speed_table(rows: List[dict]) -> str:
    names = list(rows[0]['seconds'])
    head = '| (N, C) | ' + ' | '.join(f'{n} (us)' for n in names) + \
        ' | DCKD / DKD | DCKD / floor |'
    lines = [head, '|' + ' --- |' * (len(names) + 3)]
    for r in rows:
        cells = ' | '.join(f"{r['seconds'][n] * 1e6:.0f}" for n in names)
        lines.append(f"| ({r['N']}, {r['C']}) | {cells} | "
                     f"{r['dckd_vs_dkd']:.2f}x | {r['dckd_vs_floor']:.2f}x |")
    return '\n'.join(lines)
