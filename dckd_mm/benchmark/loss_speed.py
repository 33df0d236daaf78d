# Copyright (c) dckd_mm contributors. All rights reserved.
"""Speed of logit losses and of whole distillation steps.

- Losses: forward + backward of DCKD (and, on CUDA, its PyTorch path
  beside the fused kernel), mmrazor's DKDLoss, KD (mmrazor's KLDivergence)
  and a bare ``log_softmax`` (the floor), interleaved so machine noise
  hits them alike; medians, with ratios to DKD, KD and the floor.
- Steps: one training step (data preprocessor, forward, backward, SGD
  update) of student alone, KD, DKD, SimKD and SimKD + DCKD for
  resnet32x4 -> resnet8x4 at batch 64 on synthetic CIFAR-shaped data,
  built from the repository's CIFAR-100 configs with a random teacher.

On CUDA every time is taken with CUDA events around the timed block.
mmrazor, mmengine and mmpretrain are imported inside the functions that
need them (``tools/analysis_tools/device_check.py`` is the check that needs
none of them).
"""
import os.path as osp
import statistics
import time
from typing import Callable, Dict, List, Sequence, Tuple

import torch
from torch import Tensor

__all__ = [
    'loss_functions', 'time_losses', 'format_speed_table', 'time_steps',
    'format_step_table', 'STEP_CONFIGS'
]

SIZES: Tuple[Tuple[int, int], ...] = ((64, 100), (256, 1000), (512, 81))
# (method, config) of the step benchmark, relative to the repository root
STEP_CONFIGS: Tuple[Tuple[str, str], ...] = (
    ('student alone', 'configs/zoo/resnet8x4_1xb64_cifar100.py'),
    ('KD', 'configs/kd/kd_resnet32x4_resnet8x4_1xb64_cifar100.py'),
    ('DKD', 'configs/dkd/dkd_resnet32x4_resnet8x4_1xb64_cifar100.py'),
    ('SimKD', 'configs/simkd/simkd_resnet32x4_resnet8x4_1xb64_cifar100.py'),
    ('SimKD + DCKD', 'configs/dckd/res32x4_res8x4_cifar100.py'),
)


class _Timer:
    """Seconds of a block: CUDA events on a GPU, ``perf_counter`` else."""

    def __init__(self, device: str) -> None:
        self.cuda = device.startswith('cuda')

    def __enter__(self) -> '_Timer':
        if self.cuda:
            self.start = torch.cuda.Event(enable_timing=True)
            self.end = torch.cuda.Event(enable_timing=True)
            self.start.record()
        else:
            self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        if self.cuda:
            self.end.record()
            self.end.synchronize()
            self.seconds = self.start.elapsed_time(self.end) / 1e3
        else:
            self.seconds = time.perf_counter() - self.t0


def loss_functions(device: str = 'cpu'
                   ) -> Dict[str, Callable[[Tensor, Tensor, Tensor],
                                           Tensor]]:
    import warnings

    from mmrazor.models.losses import DKDLoss, KLDivergence

    from dckd_mm.models.losses import DCKDLoss
    dckd = DCKDLoss(tau=4.0, alpha=1.0, beta=0.5)
    dkd = DKDLoss(tau=4.0, alpha=1.0, beta=0.5, reduction='batchmean')
    kd = KLDivergence(tau=4.0, reduction='batchmean')
    warnings.filterwarnings('ignore', message='size_average')

    def floor(s: Tensor, t: Tensor, y: Tensor) -> Tensor:
        return torch.log_softmax(s / 4.0, dim=1).sum()

    fns = {'DCKD': dckd}
    if device.startswith('cuda'):
        fns['DCKD (PyTorch path)'] = DCKDLoss(tau=4.0, alpha=1.0, beta=0.5,
                                              backend='torch')
    fns.update({
        'DKDLoss (mmrazor)': dkd,
        'KD (KLDivergence)': lambda s, t, y: kd(s, t),
        'log_softmax floor': floor,
    })
    return fns


def time_losses(sizes: Sequence[Tuple[int, int]] = SIZES,
                repeats: int = 200, inner: int = 5,
                device: str = 'cpu') -> List[dict]:
    """Median seconds per forward+backward, interleaving the losses."""
    fns = loss_functions(device)
    rows = []
    for n, c in sizes:
        g = torch.Generator().manual_seed(0)
        s = (torch.randn(n, c, generator=g) * 3).to(device)
        t = (torch.randn(n, c, generator=g) * 3).to(device)
        y = torch.randint(0, c, (n, ), generator=g).to(device)
        times: Dict[str, List[float]] = {k: [] for k in fns}
        for name, fn in fns.items():  # warm-up (and kernel compilation)
            for _ in range(3):
                x = s.clone().requires_grad_()
                fn(x, t, y).backward()
        for _ in range(repeats):
            for name, fn in fns.items():
                x = s.clone().requires_grad_()
                with _Timer(device) as timer:
                    for _ in range(inner):
                        fn(x, t, y).backward()
                times[name].append(timer.seconds / inner)
        med = {k: statistics.median(v) for k, v in times.items()}
        rows.append(dict(N=n, C=c, seconds=med,
                         dckd_vs_dkd=med['DCKD'] / med['DKDLoss (mmrazor)'],
                         dckd_vs_kd=med['DCKD'] / med['KD (KLDivergence)'],
                         dckd_vs_floor=med['DCKD'] /
                         med['log_softmax floor']))
    return rows


def format_speed_table(rows: List[dict]) -> str:
    names = list(rows[0]['seconds'])
    head = '| (N, C) | ' + ' | '.join(f'{n} (us)' for n in names) + \
        ' | DCKD / DKD | DCKD / KD | DCKD / floor |'
    lines = [head, '|' + ' --- |' * (len(names) + 4)]
    for r in rows:
        cells = ' | '.join(f"{r['seconds'][n] * 1e6:.0f}" for n in names)
        lines.append(f"| ({r['N']}, {r['C']}) | {cells} | "
                     f"{r['dckd_vs_dkd']:.2f}x | {r['dckd_vs_kd']:.2f}x | "
                     f"{r['dckd_vs_floor']:.2f}x |")
    return '\n'.join(lines)


def _build_step(config: str, root: str, device: str,
                batch: int) -> Tuple[torch.nn.Module, object, dict]:
    """Model, optimizer wrapper and one synthetic batch for ``config``."""
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import MODELS, DefaultScope
    from mmpretrain.structures import DataSample
    cfg = Config.fromfile(osp.join(root, config))
    scope = cfg.get('default_scope', 'mmpretrain')
    model_cfg = cfg.model.copy()
    model_cfg.pop('teacher_ckpt', None)  # random teacher: speed only
    if 'data_preprocessor' not in model_cfg:
        model_cfg['data_preprocessor'] = cfg.get('data_preprocessor')
    with DefaultScope.overwrite_default_scope(scope):
        model = MODELS.build(model_cfg).to(device)
        optim = build_optim_wrapper(model, cfg.optim_wrapper)
    g = torch.Generator().manual_seed(0)
    imgs = torch.randint(0, 256, (batch, 3, 32, 32), generator=g,
                         dtype=torch.uint8)
    labels = torch.randint(0, 100, (batch, ), generator=g)
    data = dict(inputs=list(imgs),
                data_samples=[DataSample().set_gt_label(int(v))
                              for v in labels])
    return model, optim, data


def time_steps(root: str, device: str = 'cpu', batch: int = 64,
               iters: int = 20, warmup: int = 3,
               configs: Sequence[Tuple[str, str]] = STEP_CONFIGS
               ) -> List[dict]:
    """Median seconds per training step (``train_step``: preprocessing,
    forward, backward, optimizer update) of each config's model."""
    rows = []
    for name, config in configs:
        model, optim, data = _build_step(config, root, device, batch)
        model.train()
        for _ in range(warmup):
            model.train_step(data, optim_wrapper=optim)
        times = []
        for _ in range(iters):
            with _Timer(device) as timer:
                model.train_step(data, optim_wrapper=optim)
            times.append(timer.seconds)
        step = statistics.median(times)
        rows.append(dict(method=name, config=config, step_s=step,
                         images_per_s=batch / step))
        del model, optim
    kd = next((r['step_s'] for r in rows if r['method'] == 'KD'), None)
    for r in rows:
        r['step_vs_kd'] = r['step_s'] / kd if kd else None
    return rows


def format_step_table(rows: List[dict]) -> str:
    lines = ['| method | step (ms) | images/s | step vs. KD |',
             '| --- | --- | --- | --- |']
    for r in rows:
        ratio = f"{r['step_vs_kd']:.2f}x" if r['step_vs_kd'] else '-'
        lines.append(f"| {r['method']} | {r['step_s'] * 1e3:.1f} | "
                     f"{r['images_per_s']:.0f} | {ratio} |")
    return '\n'.join(lines)


def sync_check(root: str, device: str, batch: int = 64) -> str:
    """One SimKD + DCKD forward + backward under
    ``torch.cuda.set_sync_debug_mode('error')``: ``'no sync'`` or the
    first synchronising call's message (it may be the host libraries')."""
    if not device.startswith('cuda'):
        return 'not run (no CUDA)'
    model, _, data = _build_step(STEP_CONFIGS[-1][1], root, device, batch)
    model.train()
    data = model.data_preprocessor(data, True)
    model(**data, mode='loss')  # set-up outside the checked region
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode('error')
    try:
        losses = model(**data, mode='loss')
        sum(v for k, v in losses.items() if 'loss' in k).backward()
        result = 'no sync'
    except RuntimeError as err:
        result = f'sync: {str(err).splitlines()[0]}'
    finally:
        torch.cuda.set_sync_debug_mode('default')
    return result
