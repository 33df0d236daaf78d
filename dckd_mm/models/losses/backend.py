# Copyright (c) dckd_mm contributors. All rights reserved.
"""Which backend computes DCKD, and the fused kernel's self-check.

``backend=`` of ``dckd_loss``, ``dckd_parts`` and ``DCKDLoss``:

- ``'torch'``: the PyTorch path (:mod:`.torch_parts`), everywhere.
- ``'triton'``: the fused Triton kernel (:mod:`.triton_kernel`); where it
  cannot run (no Triton, a CPU tensor without ``TRITON_INTERPRET=1``,
  float64, ``C > 8192``, ``DCKD_MM_NO_TRITON=1``) an error says why
  (:class:`~dckd_mm.errors.UnsupportedHostError` or
  :class:`~dckd_mm.errors.ConfigError`), never a silent fallback. A kernel
  that fails its self-check raises ``UnsupportedHostError`` too.
- ``'auto'`` (default): the kernel for CUDA float32/float16/bfloat16 logits
  with ``C <= 8192``, else the PyTorch path. CPU tensors take the kernel
  only under Triton's interpreter (``TRITON_INTERPRET=1``: the tests; very
  slow). The environment variable ``DCKD_MM_NO_TRITON=1`` makes ``'auto'``
  take the PyTorch path.

**Self-check.** The kernel has run only under Triton's CPU interpreter in
this project, and compiled code can differ (block sizes, fp16/bf16 loads,
the compiler). So before its result is trusted for a *key* (device,
student and teacher dtype, mask rule and the block size that ``C``
selects), the first call with that key also runs the PyTorch path on the
same batch and compares SKD, PKD and the gradient rows of both parts
(:func:`kernel_report`). If they agree the key is verified and later calls
run the kernel alone: a dictionary look-up, no host sync. If not,
``'auto'`` warns once, naming the key and the largest differences, and
takes the PyTorch path for that key from then on (``'triton'`` raises). A
kernel that fails to build is handled the same way. The first call of a
key reads the comparison back to the host (one sync, once per key).

**Tolerances** (:data:`TIE_ULPS`, :data:`VALUE_ULPS`, :data:`GRAD_ULPS`),
per row, in units of ``eps * S`` with ``eps = 2^-23`` (float32) and the
row's scale ``S = 1 + log C + max(|z_s|, |z_t|) / tau``. Both backends
compute in float32: the kernel upcasts fp16/bf16 logits on load and the
PyTorch path upcasts them before the softmax, so for fp16/bf16 input the
reference is float32 on the very same values and only float32 rounding
separates the two; no fp16 tolerance is needed. Each log-probability
``z / tau - logsumexp`` is a difference of numbers up to ``S`` in size, so
the two evaluation orders differ by a few ulps of ``S`` (Triton's
``exp``/``log`` on CUDA are approximate to a few ulps more; sums of up to
8192 terms add ``log2 C`` ulps). Then:

- SKD and PKD are sums of probability-weighted log-probability
  differences, times ``tau^2``: they may differ by ``VALUE_ULPS * eps * S *
  tau^2``;
- a gradient entry is ``tau`` times a difference of probabilities whose
  exponents differ by a few ``eps * S``: ``GRAD_ULPS * eps * S * tau``;
- a mask decision can flip between the backends only where its margin
  (:attr:`MaskRule.gap`) is within rounding; rows whose margin is below
  ``TIE_ULPS * eps * S`` are left out of the value comparison (they are
  still required to be finite). On random logits such rows are rare; a
  batch where every row is ambiguous leaves the key unverified (the
  PyTorch result is used and the next call checks again).

Measured on the CPU through the interpreter
(``tools/analysis_tools/device_check.py --cpu``: every rule and dtype, C up
to 8192, logits up to 1e4), the largest differences were below 0.5 % of
these bounds; a wrong kernel result (a part off by 1 %, a flipped
gradient, a NaN: the tests inject each) exceeds them. Compiled GPU code
has not been measured yet (``docs/method.md``).
"""
import math
import os
import warnings
from typing import Dict, Optional, Tuple

import torch
from torch import Tensor

from ...errors import ConfigError, UnsupportedHostError
from . import triton_kernel
from .mask_rules import MASK_RULES
from .torch_parts import (Combine, dckd_loss_torch, dckd_parts_torch,
                          grad_from_terms, torch_terms)

__all__ = [
    'NO_TRITON_ENV', 'TIE_ULPS', 'VALUE_ULPS', 'GRAD_ULPS', 'choose_backend',
    'kernel_key', 'kernel_report', 'compute', 'verified_keys',
    'reset_self_check'
]

NO_TRITON_ENV = 'DCKD_MM_NO_TRITON'
TIE_ULPS = 64
VALUE_ULPS = 128
GRAD_ULPS = 128
_EPS = 2.0**-23

Key = Tuple[str, torch.dtype, torch.dtype, str, int]
# key -> True (kernel verified) or False (PyTorch path for this key)
_STATE: Dict[Key, bool] = {}


def _env_no_triton() -> bool:
    return os.environ.get(NO_TRITON_ENV, '0') not in ('', '0')


def _kernel_unusable(preds_S: Tensor, preds_T: Tensor) -> Optional[str]:
    """Why the kernel cannot take these logits, or ``None``."""
    if not triton_kernel.HAVE_TRITON:
        return 'Triton is not installed'
    if not preds_S.is_cuda and not triton_kernel.interpreting():
        return (f'the logits are on {preds_S.device}, not CUDA (on the CPU '
                "the kernel runs only under Triton's interpreter, "
                'TRITON_INTERPRET=1)')
    for name, t in (('preds_S', preds_S), ('preds_T', preds_T)):
        if t.dtype not in triton_kernel.DTYPES:
            return (f'{name} is {t.dtype}; the kernel takes float32, '
                    'float16 and bfloat16')
    if preds_T.device != preds_S.device:
        return 'student and teacher logits are on different devices'
    if preds_S.shape[1] > triton_kernel.MAX_CLASSES:
        return (f'C = {preds_S.shape[1]} classes exceeds the kernel\'s '
                f'{triton_kernel.MAX_CLASSES}')
    return None


def choose_backend(preds_S: Tensor, preds_T: Tensor, backend: str) -> str:
    """``'torch'`` or ``'triton'`` for these logits.

    Raises:
        ConfigError: ``backend='triton'`` while ``DCKD_MM_NO_TRITON`` is set.
        UnsupportedHostError: ``backend='triton'`` where the kernel cannot
            run, with the reason.
    """
    if backend == 'torch':
        return 'torch'
    if backend == 'triton':
        if _env_no_triton():
            raise ConfigError(
                f"backend='triton' contradicts {NO_TRITON_ENV}=1 in the "
                "environment: unset one of them (or use backend='auto').")
        why = _kernel_unusable(preds_S, preds_T)
        if why:
            raise UnsupportedHostError(
                f"backend='triton' cannot run here: {why}. Use "
                "backend='auto' (the kernel where it can run, else the "
                "PyTorch path) or backend='torch'.")
        return 'triton'
    if _env_no_triton() or _kernel_unusable(preds_S, preds_T):
        return 'torch'
    return 'triton'


def kernel_key(preds_S: Tensor, preds_T: Tensor, mask: str) -> Key:
    """The self-check's key: device, student and teacher dtype, mask rule
    and the kernel's block size for ``C``."""
    return (str(preds_S.device), preds_S.dtype, preds_T.dtype, mask,
            triton_kernel.block_size(preds_S.shape[1]))


def verified_keys() -> Dict[Key, bool]:
    """A copy of the self-check's record: key -> verified (True) or
    PyTorch path from now on (False)."""
    return dict(_STATE)


def reset_self_check() -> None:
    """Forget every key's self-check (the next call of each checks again);
    for tests and ``tools/analysis_tools/device_check.py``."""
    _STATE.clear()


def _row_scale(preds_S: Tensor, preds_T: Tensor, tau: float) -> Tensor:
    """``S = 1 + log C + max(|z_s|, |z_t|) / tau`` per row, float32+."""
    dtype = torch.promote_types(preds_S.dtype, torch.float32)
    big = torch.maximum(preds_S.detach().abs().amax(dim=1).to(dtype),
                        preds_T.detach().abs().amax(dim=1).to(dtype))
    return big / tau + (1.0 + math.log(preds_S.shape[1]))


def kernel_report(preds_S: Tensor, preds_T: Tensor, labels: Tensor,
                  tau: float, mask: str,
                  outputs: Optional[Tuple[Tensor, ...]] = None) -> dict:
    """Compare the kernel with the PyTorch path on one batch.

    Args:
        preds_S (Tensor): student logits ``(N, C)``.
        preds_T (Tensor): teacher logits ``(N, C)``.
        labels (Tensor): ``(N,)`` int64 labels in ``[0, C)``.
        tau (float): temperature.
        mask (str): mask rule.
        outputs (tuple, optional): the kernel's ``(skd, pkd, grad_skd,
            grad_pkd)``; launched here when ``None``.

    Returns:
        dict: ``ok`` (bool, ``None`` when no row could be compared),
        ``rows`` compared, ``ambiguous`` rows left out, ``finite`` (the
        kernel's output), and for ``skd``, ``pkd``, ``grad``: the largest
        absolute difference (``max_abs``) and the largest difference in
        units of its tolerance (``max_ratio``; ``ok`` needs all <= 1),
        and ``clear_rows``, the ``(N,)`` bool tensor of the rows compared.
        Reads values back to the host.
    """
    if outputs is None:
        outputs = triton_kernel.launch(preds_S, preds_T, labels, tau,
                                       MASK_RULES[mask].kernel_id)
    skd_k, pkd_k, gs_k, gp_k = outputs
    ref = torch_terms(preds_S, preds_T, labels, tau, mask)
    one = ref.mdelta.new_ones(())
    zero = ref.mdelta.new_zeros(())
    gs_r = grad_from_terms(ref.q, labels, ref.mdelta, one, zero, tau)
    gp_r = grad_from_terms(ref.q, labels, ref.mdelta, zero, one, tau)
    n = preds_S.shape[0]
    finite = bool(all(torch.isfinite(t).all() for t in outputs))
    report = dict(rows=0, ambiguous=0, finite=finite, ok=None,
                  clear_rows=torch.zeros(n, dtype=torch.bool))
    if n == 0:
        return report
    scale = _row_scale(preds_S, preds_T, tau)
    eps_s = _EPS * scale
    gap = MASK_RULES[mask].gap(ref.lp, labels)
    clear = gap > TIE_ULPS * eps_s
    ref_ok = torch.isfinite(ref.skd) & torch.isfinite(ref.pkd)
    clear &= ref_ok
    rows = int(clear.sum())
    report.update(rows=rows, ambiguous=int((~clear & ref_ok).sum()),
                  clear_rows=clear)
    tol_v = VALUE_ULPS * eps_s * tau * tau
    tol_g = (GRAD_ULPS * tau) * eps_s
    ok = finite
    for name, got, want, tol in (
            ('skd', skd_k, ref.skd, tol_v), ('pkd', pkd_k, ref.pkd, tol_v),
            ('grad', torch.stack((gs_k, gp_k)), torch.stack((gs_r, gp_r)),
             tol_g)):
        diff = (got.to(want.dtype) - want).abs()
        if diff.dim() == 3:
            diff = diff.amax(dim=(0, 2))
        diff = torch.where(clear, diff, 0.0)
        row = int(diff.argmax()) if rows else 0
        ratio = (diff / tol).amax()
        report[name] = dict(max_abs=float(diff.amax()),
                            max_ratio=float(ratio), worst_row=row)
        ok = ok and bool(ratio <= 1.0)
    report['ok'] = ok if rows else None
    return report


def _describe(key: Key) -> str:
    device, s_dtype, t_dtype, mask, block = key
    return (f'device {device}, student {s_dtype}, teacher {t_dtype}, mask '
            f'{mask!r}, block {block}')


def _first_use(key: Key, preds_S: Tensor, preds_T: Tensor, labels: Tensor,
               tau: float, mask: str, backend: str,
               combine: Optional[Combine]):
    """Launch, self-check and record ``key``; the result to return."""
    try:
        outputs = triton_kernel.launch(preds_S, preds_T, labels, tau,
                                       MASK_RULES[mask].kernel_id)
    except Exception as err:  # compilation / toolchain problems
        if backend == 'triton':
            raise UnsupportedHostError(
                f'the fused DCKD Triton kernel could not run ({_describe(key)}'
                f'): {type(err).__name__}: {err}') from err
        _STATE[key] = False
        warnings.warn(
            f'dckd_mm: the fused DCKD Triton kernel could not run here '
            f'({_describe(key)}; {type(err).__name__}: {err}); using the '
            'PyTorch path for this case (same values, slower on a GPU).')
        return _torch(preds_S, preds_T, labels, tau, mask, combine)
    report = kernel_report(preds_S, preds_T, labels, tau, mask, outputs)
    if report['ok'] is None:  # nothing comparable in this batch
        if backend == 'triton':
            return triton_kernel.from_kernel(preds_S, outputs, combine)
        return _torch(preds_S, preds_T, labels, tau, mask, combine)
    if report['ok']:
        _STATE[key] = True
        return triton_kernel.from_kernel(preds_S, outputs, combine)
    worst = ', '.join(
        f"{k} {report[k]['max_abs']:.3g} ({report[k]['max_ratio']:.3g}x "
        'the tolerance)' for k in ('skd', 'pkd', 'grad'))
    text = (f'the fused DCKD Triton kernel disagrees with the PyTorch path '
            f'({_describe(key)}): largest differences {worst}'
            f"{'' if report['finite'] else ', non-finite output'}")
    if backend == 'triton':
        raise UnsupportedHostError(
            text + ". Use backend='auto' or 'torch', and please report it.")
    _STATE[key] = False
    warnings.warn(f'dckd_mm: {text}; using the PyTorch path for this case '
                  'from now on (please report it).')
    return _torch(preds_S, preds_T, labels, tau, mask, combine)


def _torch(preds_S: Tensor, preds_T: Tensor, labels: Tensor, tau: float,
           mask: str, combine: Optional[Combine]):
    if combine is None:
        return dckd_parts_torch(preds_S, preds_T, labels, tau, mask)
    return dckd_loss_torch(preds_S, preds_T, labels, tau, mask, combine)


def compute(preds_S: Tensor, preds_T: Tensor, labels: Tensor, tau: float,
            mask: str, backend: str, combine: Optional[Combine] = None):
    """DCKD on the chosen backend: ``(skd, pkd)`` (``combine`` None) or the
    weighted, reduced loss. Inputs already checked; ``labels`` (N,) int64.

    After a key's first call (which may sync once), nothing is read back
    to the host.
    """
    if choose_backend(preds_S, preds_T, backend) == 'torch':
        return _torch(preds_S, preds_T, labels, tau, mask, combine)
    key = kernel_key(preds_S, preds_T, mask)
    state = _STATE.get(key)
    if state:
        outputs = triton_kernel.launch(preds_S, preds_T, labels, tau,
                                       MASK_RULES[mask].kernel_id)
        return triton_kernel.from_kernel(preds_S, outputs, combine)
    if state is None:
        return _first_use(key, preds_S, preds_T, labels, tau, mask,
                          backend, combine)
    if backend == 'triton':
        raise UnsupportedHostError(
            f'the fused DCKD Triton kernel failed its self-check earlier '
            f"({_describe(key)}): use backend='auto' or 'torch'.")
    return _torch(preds_S, preds_T, labels, tau, mask, combine)
