# Copyright (c) dckd_mm contributors. All rights reserved.
"""One command for a bare GPU machine: is the fused DCKD Triton kernel right
and fast there?

    python tools/analysis_tools/device_check.py --out device_check.json
    python tools/analysis_tools/device_check.py --cpu --out cpu.json

It imports torch, Triton and dckd_mm's loss code only (no mmengine, mmcv,
mmpretrain, mmrazor or mmdet; no network) and runs from the repository as
it is, not installed. Checks (DCKD: Wang et al., PLOS ONE 2025):

(a) the kernel against the PyTorch path for every mask rule, float32,
    float16 and bfloat16, C in {2, 10, 81, 100, 1000, 4096, 8192}, N in
    {1, 64, 1024, 8192}, logits of scale 3 and 1e4, with a row where
    student equals teacher: SKD, PKD and the gradient rows of both parts
    (the self-check's comparison and tolerances,
    ``dckd_mm/models/losses/backend.py``), then the whole loss forward and
    backward with random per-sample weights; plus the one-time cost of the
    self-check;
(b) loss forward + backward timed with CUDA events: DCKD (kernel and
    PyTorch path), KD, DKD written from mmrazor's ``DKDLoss`` formula, and
    the ``log_softmax`` floor, with ratios;
(c) a training step of resnet32x4 -> resnet8x4 (skipped, with the reason:
    the project's backbones import mmpretrain);
(d) no host sync in a DCKD forward + backward under
    ``torch.cuda.set_sync_debug_mode('error')``.

Writes one JSON file (``--out``) and prints one table; exit status 1 if a
check failed. ``--cpu`` runs (a) on small sizes through Triton's CPU
interpreter and skips what needs CUDA, saying why (the test suite runs it
so, with OpenMMLab made unimportable). Expected to take 2-4 minutes on a
GPU, most of it compiling the kernel's variants (not timed: it has not run
on a GPU yet); 20-40 s of CPU time with ``--cpu``.
"""
import argparse
import importlib
import importlib.util
import json
import math
import os
import os.path as osp
import platform
import statistics
import sys
import time
import warnings
from types import ModuleType
from typing import Callable, Dict, List, Optional, Tuple

HERE = osp.dirname(osp.abspath(__file__))
ROOT = osp.dirname(osp.dirname(HERE))

RULES = ('as_good_as_teacher', 'student_ge_teacher', 'none',
         'student_correct')
GPU_C = (2, 10, 81, 100, 1000, 4096, 8192)
GPU_N = (1, 64, 1024, 8192)
CPU_SHAPES = ((1, 2), (8, 10), (8, 81), (4, 100), (4, 1000), (1, 8192))
SPEED_SIZES = ((64, 100), (256, 1000), (512, 81), (4096, 1000))
STEP_BACKBONE = osp.join('dckd_mm', 'models', 'backbones', 'cifar_resnet.py')


def load_loss_package(root: str = ROOT) -> ModuleType:
    """Import ``dckd_mm.models.losses.dckd`` without running the
    ``__init__`` of ``dckd_mm``, ``dckd_mm.models`` or
    ``dckd_mm.models.losses`` (they import mmengine and mmrazor, to apply
    the compatibility layer and register the modules).

    Each of the three packages is entered into ``sys.modules`` as a bare
    module built from its spec (``spec_from_file_location`` with the
    package folder as its submodule search path) and never executed. The
    import system then finds the submodules in those folders as usual, so
    the loss modules' relative imports (``from .mask_rules import ...``,
    ``from ...errors import ...``) resolve to the files of ``root``, and
    only what the loss modules import is loaded: torch, Triton and
    ``dckd_mm/errors.py``. No ``sys.path`` entry is added.
    """
    parent = None
    for name in ('dckd_mm', 'dckd_mm.models', 'dckd_mm.models.losses'):
        if name in sys.modules:
            parent = sys.modules[name]
            continue
        folder = osp.join(root, *name.split('.'))
        spec = importlib.util.spec_from_file_location(
            name, osp.join(folder, '__init__.py'),
            submodule_search_locations=[folder])
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        if parent is not None:
            setattr(parent, name.rsplit('.', 1)[1], module)
        parent = module
    return importlib.import_module('dckd_mm.models.losses.dckd')


def _cases(cpu: bool) -> List[Tuple[int, int]]:
    if cpu:
        return list(CPU_SHAPES)
    return [(n, c) for c in GPU_C for n in GPU_N]


def _sync(device: str) -> None:
    import torch
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def check_correctness(losses: Dict[str, ModuleType], device: str,
                      cpu: bool) -> dict:
    """(a): every rule x dtype x shape x scale; the worst ratio to the
    tolerances and every failure."""
    import torch
    backend = losses['backend']
    dckd = losses['dckd']
    dtypes = (torch.float32, torch.float16, torch.bfloat16)
    worst = dict(skd=0.0, pkd=0.0, grad=0.0, loss_grad=0.0)
    failures, count, ambiguous, compared = [], 0, 0, 0
    t0 = time.perf_counter()
    for rule in RULES:
        for dtype in dtypes:
            for n, c in _cases(cpu):
                for scale in (3.0, 1e4):
                    g = torch.Generator().manual_seed(count)
                    s = (torch.randn(n, c, generator=g) * scale)
                    t = (torch.randn(n, c, generator=g) * scale)
                    y = torch.randint(0, c, (n, ), generator=g)
                    w = torch.rand(n, generator=g)
                    if n > 1:
                        t[0] = s[0]  # a row where student equals teacher
                    s, t = s.to(device, dtype), t.to(device, dtype)
                    y, w = y.to(device), w.to(device)
                    where = dict(rule=rule, dtype=str(dtype), N=n, C=c,
                                 scale=scale)
                    count += 1
                    try:
                        rep = backend.kernel_report(s, t, y, 4.0, rule)
                    except Exception as err:  # a kernel that cannot run
                        failures.append(dict(where, error=f'{err!r}'))
                        continue
                    ambiguous += rep['ambiguous']
                    compared += rep['rows']
                    for k in ('skd', 'pkd', 'grad'):
                        worst[k] = max(worst[k], rep[k]['max_ratio']
                                       if k in rep else 0.0)
                    if rep['ok'] is False:
                        failures.append(dict(where, **{
                            k: rep[k] for k in ('skd', 'pkd', 'grad')}))
                        continue
                    ratio = _loss_gradient_ratio(dckd, backend, s, t, y, w,
                                                 rule, rep['clear_rows'])
                    worst['loss_grad'] = max(worst['loss_grad'], ratio)
                    if not ratio <= 1.0:
                        failures.append(dict(where, loss_grad_ratio=ratio))
    return dict(ok=not failures, cases=count, rows_compared=compared,
                rows_ambiguous=ambiguous, worst_ratio_to_tolerance=worst,
                tolerance_ulps=dict(tie=backend.TIE_ULPS,
                                    value=backend.VALUE_ULPS,
                                    grad=backend.GRAD_ULPS),
                failures=failures[:20], seconds=time.perf_counter() - t0)


def _loss_gradient_ratio(dckd: ModuleType, backend: ModuleType, s, t, y, w,
                         rule: str, clear) -> float:
    """The whole loss (``reduction='none'`` weighted by ``w``) forward and
    backward on both backends: the largest gradient difference in units of
    the self-check's gradient tolerance plus one ulp of the logits'
    dtype (the gradient is returned in it)."""
    import torch
    grads = []
    for name in ('triton', 'torch'):
        x = s.clone().requires_grad_()
        loss = dckd.dckd_loss(x, t, y, mask=rule, reduction='none',
                              backend=name)
        (loss * w).sum().backward()
        grads.append(x.grad.float())
    if s.shape[0] == 0:
        return 0.0
    big = torch.maximum(s.abs().amax(1).float(), t.abs().amax(1).float())
    scale = big / 4.0 + 1.0 + math.log(s.shape[1])  # the row scale S
    tol = (backend.GRAD_ULPS * 4.0 * 2.0**-23) * scale.unsqueeze(1) + \
        torch.finfo(s.dtype).eps * grads[1].abs()
    ratio = ((grads[0] - grads[1]).abs() / tol).amax(dim=1)
    ratio = torch.where(clear.to(ratio.device), ratio, 0.0)
    return float(ratio.amax())


def self_check_cost(losses: Dict[str, ModuleType], device: str,
                    cpu: bool) -> dict:
    """Seconds of a key's first call (kernel + PyTorch reference +
    comparison, one host read) against a verified call."""
    import torch
    backend, dckd = losses['backend'], losses['dckd']
    rows = []
    shapes = ((64, 100), (256, 1000)) if cpu else \
        ((64, 100), (256, 1000), (1024, 8192))
    for n, c in shapes:
        g = torch.Generator().manual_seed(n + c)
        s = (torch.randn(n, c, generator=g) * 3).to(device)
        t = (torch.randn(n, c, generator=g) * 3).to(device)
        y = torch.randint(0, c, (n, ), generator=g).to(device)
        if not cpu:  # compile outside the timed calls
            backend.reset_self_check()
            dckd.dckd_loss(s, t, y, backend='triton')
        backend.reset_self_check()
        _sync(device)
        t0 = time.perf_counter()
        dckd.dckd_loss(s, t, y, backend='triton')
        _sync(device)
        first = time.perf_counter() - t0
        times = []
        for _ in range(1 if cpu else 20):
            t0 = time.perf_counter()
            dckd.dckd_loss(s, t, y, backend='triton')
            _sync(device)
            times.append(time.perf_counter() - t0)
        steady = statistics.median(times)
        # the check's own work: PyTorch reference, comparison, host reads
        outputs = losses['triton_kernel'].launch(
            s, t, y, 4.0, losses['mask_rules'].MASK_RULES[
                'as_good_as_teacher'].kernel_id)
        _sync(device)
        t0 = time.perf_counter()
        backend.kernel_report(s, t, y, 4.0, 'as_good_as_teacher', outputs)
        check = time.perf_counter() - t0
        rows.append(dict(N=n, C=c, first_call_ms=first * 1e3,
                         verified_call_ms=steady * 1e3,
                         one_time_cost_ms=(first - steady) * 1e3,
                         check_work_ms=check * 1e3))
    return dict(ok=True, rows=rows, note=(
        '(Triton interpreter: the kernel times are not GPU figures; the '
        "check's own work is the PyTorch reference on the CPU)")
        if cpu else '')


def _reference_losses(dckd: ModuleType) -> Dict[str, Callable]:
    import torch
    import torch.nn.functional as F
    tau = 4.0

    def kd(s, t, y):
        return F.kl_div(F.log_softmax(s / tau, 1), F.softmax(t / tau, 1),
                        reduction='batchmean') * tau**2

    def dkd(s, t, y):
        """mmrazor 1.0's ``DKDLoss`` (alpha 1, beta 0.5, tau 4,
        'batchmean'), written out: TCKD on the binary target/rest split,
        NCKD with the target masked by subtracting 1000."""
        gt = torch.zeros_like(s).scatter_(1, y.unsqueeze(1), 1).bool()
        other = ~gt
        ps, pt = F.softmax(s / tau, 1), F.softmax(t / tau, 1)
        bs = torch.cat([(ps * gt).sum(1, keepdim=True),
                        (ps * other).sum(1, keepdim=True)], 1)
        bt = torch.cat([(pt * gt).sum(1, keepdim=True),
                        (pt * other).sum(1, keepdim=True)], 1)
        tckd = F.kl_div(torch.log(bs), bt, reduction='batchmean') * tau**2
        ls = F.log_softmax(s / tau - 1000.0 * gt, 1)
        lt = F.softmax(t / tau - 1000.0 * gt, 1)
        nckd = F.kl_div(ls, lt, reduction='batchmean') * tau**2
        return tckd + 0.5 * nckd

    def floor(s, t, y):
        return torch.log_softmax(s / tau, dim=1).sum()

    return {
        'DCKD (kernel)': lambda s, t, y: dckd.dckd_loss(
            s, t, y, backend='triton'),
        'DCKD (PyTorch path)': lambda s, t, y: dckd.dckd_loss(
            s, t, y, backend='torch'),
        'KD': kd,
        'DKD (mmrazor formula)': dkd,
        'log_softmax floor': floor,
    }


def check_speed(losses: Dict[str, ModuleType], device: str) -> dict:
    """(b): median forward + backward per call, CUDA events."""
    import torch
    fns = _reference_losses(losses['dckd'])
    rows = []
    for n, c in SPEED_SIZES:
        g = torch.Generator().manual_seed(0)
        s = (torch.randn(n, c, generator=g) * 3).to(device)
        t = (torch.randn(n, c, generator=g) * 3).to(device)
        y = torch.randint(0, c, (n, ), generator=g).to(device)
        times: Dict[str, List[float]] = {k: [] for k in fns}
        for fn in fns.values():  # warm-up, compilation, self-check
            for _ in range(3):
                fn(s.clone().requires_grad_(), t, y).backward()
        inner = 10
        for _ in range(30):
            for name, fn in fns.items():
                x = s.clone().requires_grad_()
                start = torch.cuda.Event(enable_timing=True)
                end = torch.cuda.Event(enable_timing=True)
                start.record()
                for _ in range(inner):
                    fn(x, t, y).backward()
                end.record()
                end.synchronize()
                times[name].append(start.elapsed_time(end) / inner * 1e3)
        us = {k: statistics.median(v) for k, v in times.items()}
        k = us['DCKD (kernel)']
        rows.append(dict(N=n, C=c, us=us,
                         dckd_vs_dkd=k / us['DKD (mmrazor formula)'],
                         dckd_vs_kd=k / us['KD'],
                         dckd_vs_floor=k / us['log_softmax floor'],
                         kernel_vs_torch_path=k / us['DCKD (PyTorch path)']))
    return dict(ok=True, rows=rows)


def check_step() -> dict:
    """(c): the models of the step live in dckd_mm/models/backbones, which
    import mmpretrain; this script imports no OpenMMLab package."""
    path = osp.join(ROOT, STEP_BACKBONE)
    with open(path) as f:
        hits = [i + 1 for i, line in enumerate(f)
                if line.lstrip().startswith(('import mmpretrain',
                                             'from mmpretrain'))]
    if hits:
        return dict(ok=None, skipped=(
            f'{STEP_BACKBONE}:{hits[0]} imports mmpretrain, so resnet32x4 '
            'and resnet8x4 cannot be built with torch alone; time the '
            'training steps with `python tools/analysis_tools/'
            'loss_speed.py --steps` where the OpenMMLab stack is installed'))
    return dict(ok=None, skipped=(
        f'{STEP_BACKBONE} no longer imports mmpretrain: the step check is '
        'not written yet'))


def check_no_sync(losses: Dict[str, ModuleType], device: str) -> dict:
    """(d): one DCKD forward + backward (logits from a linear layer) per
    backend under sync debug mode 'error', after a first call (the
    self-check, which may sync, runs outside)."""
    import torch
    dckd = losses['dckd']
    out = {}
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 32, generator=g).to(device)
    t = torch.randn(64, 100, generator=g).to(device)
    y = torch.randint(0, 100, (64, ), generator=g).to(device)
    lin = torch.nn.Linear(32, 100).to(device)
    for name in ('triton', 'torch'):
        dckd.dckd_loss(lin(x), t, y, backend=name).backward()
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode('error')
        try:
            dckd.dckd_loss(lin(x), t, y, backend=name).backward()
            out[name] = 'no sync'
        except RuntimeError as err:
            out[name] = f'sync: {str(err).splitlines()[0]}'
        finally:
            torch.cuda.set_sync_debug_mode('default')
    return dict(ok=all(v == 'no sync' for v in out.values()), **out)


def format_table(result: dict) -> str:
    def status(ok: Optional[bool]) -> str:
        return {True: 'pass', False: 'FAIL', None: 'skipped'}[ok]

    lines = ['| check | result | figures |', '| --- | --- | --- |']
    a = result['correctness']
    w = a['worst_ratio_to_tolerance']
    lines.append(
        f"| (a) kernel vs PyTorch path | {status(a['ok'])} | {a['cases']} "
        f"cases, {a['rows_compared']} rows compared, "
        f"{a['rows_ambiguous']} near-tie rows left out; worst / tolerance: "
        f"skd {w['skd']:.3g}, pkd {w['pkd']:.3g}, grad {w['grad']:.3g}, "
        f"loss grad {w['loss_grad']:.3g} |")
    cost = result['self_check_cost']
    figs = '; '.join(f"({r['N']}, {r['C']}): first call "
                     f"{r['first_call_ms']:.1f} ms, verified "
                     f"{r['verified_call_ms']:.2f} ms, check work "
                     f"{r['check_work_ms']:.2f} ms" for r in cost['rows'])
    lines.append(f"| (a) self-check one-time cost | {status(cost['ok'])} | "
                 f"{figs} {cost['note']} |")
    b = result['speed']
    if b.get('skipped'):
        lines.append(f"| (b) loss speed | skipped | {b['skipped']} |")
    else:
        for r in b['rows']:
            lines.append(
                f"| (b) speed ({r['N']}, {r['C']}) | measured | DCKD "
                f"{r['us']['DCKD (kernel)']:.0f} us: "
                f"{r['dckd_vs_dkd']:.2f}x DKD, {r['dckd_vs_kd']:.2f}x KD, "
                f"{r['dckd_vs_floor']:.2f}x floor, "
                f"{r['kernel_vs_torch_path']:.2f}x PyTorch path |")
    c = result['step']
    lines.append(f"| (c) training step | skipped | {c['skipped']} |")
    d = result['no_sync']
    if d.get('skipped'):
        lines.append(f"| (d) no host sync | skipped | {d['skipped']} |")
    else:
        lines.append(f"| (d) no host sync | {status(d['ok'])} | kernel: "
                     f"{d['triton']}; PyTorch path: {d['torch']} |")
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument('--out', default='device_check.json',
                        help='JSON file to write (default: %(default)s)')
    parser.add_argument('--cpu', action='store_true',
                        help="Triton's CPU interpreter, small sizes; skips "
                        'what needs CUDA')
    args = parser.parse_args(argv)
    if args.cpu:
        os.environ['TRITON_INTERPRET'] = '1'  # before the kernel is defined
        # the interpreter evaluates masked-off lanes too (numpy warns)
        warnings.filterwarnings('ignore', category=RuntimeWarning)
    import torch
    losses = {'dckd': load_loss_package()}
    for name in ('backend', 'triton_kernel', 'mask_rules'):
        losses[name] = sys.modules[f'dckd_mm.models.losses.{name}']
    if not losses['triton_kernel'].HAVE_TRITON:
        print('error: Triton is not installed', file=sys.stderr)
        return 2
    if not args.cpu and not torch.cuda.is_available():
        print('error: no CUDA device; use --cpu for the interpreter run',
              file=sys.stderr)
        return 2
    device = 'cpu' if args.cpu else 'cuda'
    import triton
    result = dict(
        host=dict(python=platform.python_version(), torch=torch.__version__,
                  triton=triton.__version__,
                  device=('CPU (Triton interpreter)' if args.cpu else
                          torch.cuda.get_device_name()),
                  capability=(None if args.cpu else
                              list(torch.cuda.get_device_capability()))),
        mode='cpu' if args.cpu else 'cuda')
    t0 = time.perf_counter()
    result['correctness'] = check_correctness(losses, device, args.cpu)
    result['self_check_cost'] = self_check_cost(losses, device, args.cpu)
    why = ('needs CUDA (CUDA events); the CPU figures are '
           '`tools/analysis_tools/loss_speed.py`\'s')
    result['speed'] = (dict(ok=None, skipped=why) if args.cpu else
                       check_speed(losses, device))
    result['step'] = check_step()
    result['no_sync'] = (dict(ok=None, skipped=(
        "needs CUDA (torch.cuda.set_sync_debug_mode); on the CPU "
        'tests/test_no_host_sync.py counts host reads instead'))
        if args.cpu else check_no_sync(losses, device))
    result['seconds'] = time.perf_counter() - t0
    result['ok'] = all(result[k]['ok'] is not False
                       for k in ('correctness', 'self_check_cost', 'speed',
                                 'step', 'no_sync'))
    with open(args.out, 'w') as f:
        json.dump(result, f, indent=2)
    print(f"{result['host']['device']}, torch {result['host']['torch']}, "
          f"triton {result['host']['triton']}; {result['seconds']:.0f} s")
    print(format_table(result))
    print(f"{'all checks passed' if result['ok'] else 'FAILED'}; figures "
          f'in {args.out}')
    return 0 if result['ok'] else 1


if __name__ == '__main__':
    sys.exit(main())
