# Copyright (c) dckd_mm contributors. All rights reserved.
"""DCKD forward + backward fused in one Triton kernel (CUDA).

One program per sample row: it reads the row's student and teacher logits
once, computes both log-softmaxes, the acquired set and target factor of
the mask rule, SKD, PKD and the gradient of each part with respect to the
student logits, and writes ``skd``, ``pkd`` ``(N,)`` and the two gradient
rows ``(N, C)``. Backward is then one multiply-add with the upstream
gradients. The math is :func:`dckd_mm.models.losses.dckd_loss._parts_exact`
(the PyTorch reference and fallback; ``docs/method.md``): sums over ``R``
relative to ``R``'s own maximum, so nothing underflows and nothing is read
back to the host.

Used by :func:`dckd_loss` on CUDA for float32/float16/bfloat16 logits with
``C <= MAX_CLASSES``; set ``DCKD_MM_NO_TRITON=1`` to force the PyTorch path.
The tests run this kernel on the CPU through Triton's interpreter
(``TRITON_INTERPRET=1``).
"""
import os
import warnings
from typing import Optional, Tuple

import torch
from torch import Tensor

__all__ = [
    'dckd_parts_triton', 'parts_or_none', 'triton_available', 'MAX_CLASSES',
    'RULE_IDS'
]

MAX_CLASSES = 8192
RULE_IDS = {
    'as_good_as_teacher': 0,
    'student_ge_teacher': 1,
    'none': 2,
    'student_correct': 3,
}

try:  # Triton ships with CUDA builds of torch; absent elsewhere
    import triton
    import triton.language as tl
except ImportError:  # pragma: no cover - depends on the install
    triton = None
    tl = None


# None: not tried yet; True: the kernel compiled and ran; False: it could
# not be built on this machine (dckd_loss uses the PyTorch path).
_KERNEL_OK: Optional[bool] = None


def triton_available(preds: Tensor) -> bool:
    """Whether :func:`dckd_loss` takes the fused kernel for ``preds``."""
    return (triton is not None and _KERNEL_OK is not False and preds.is_cuda
            and preds.dtype in (torch.float32, torch.float16, torch.bfloat16)
            and preds.shape[1] <= MAX_CLASSES
            and os.environ.get('DCKD_MM_NO_TRITON', '0') in ('', '0'))


if triton is not None:

    @triton.jit
    def _row_log_softmax(z):
        mx = tl.max(z, 0)
        return z - mx - tl.log(tl.sum(tl.exp(z - mx), 0))

    @triton.jit
    def _rest_stats(lp, rest, has_rest):
        """``q`` (softmax over R) and ``log sum_R p``, relative to R's own
        maximum (the sum is >= 1: no underflow)."""
        top = tl.max(tl.where(rest, lp, float('-inf')), 0)
        top = tl.where(has_rest, top, 0.0)
        e = tl.where(rest, tl.exp(lp - top), 0.0)
        s = tl.sum(e, 0)
        s1 = tl.where(has_rest, s, 1.0)
        lse = tl.where(has_rest, top + tl.log(s1), float('-inf'))
        return e / s1, lse

    @triton.jit
    def _logaddexp(a, b):
        """``log(e^a + e^b)`` for finite ``a`` and ``b`` possibly -inf."""
        mx = tl.maximum(a, b)
        return mx + tl.log(tl.exp(a - mx) + tl.exp(b - mx))

    @triton.jit
    def _dckd_kernel(S, T, Y, SKD, PKD, GS, GP, stride_s, stride_t,
                     stride_g, C, inv_tau, scale, gscale,
                     RULE: tl.constexpr, BLOCK: tl.constexpr):
        row = tl.program_id(0)
        cols = tl.arange(0, BLOCK)
        valid = cols < C
        zs = tl.load(S + row * stride_s + cols, mask=valid,
                     other=float('-inf')).to(tl.float32) * inv_tau
        zt = tl.load(T + row * stride_t + cols, mask=valid,
                     other=float('-inf')).to(tl.float32) * inv_tau
        y = tl.load(Y + row).to(tl.int32)
        ls = _row_log_softmax(zs)
        lt = _row_log_softmax(zt)
        is_y = cols == y
        lys = tl.sum(tl.where(is_y, ls, 0.0), 0)
        lyt = tl.sum(tl.where(is_y, lt, 0.0), 0)
        # mask rule: acquired non-target classes and the SKD factor m
        if RULE == 0:  # as_good_as_teacher
            acquired = ls <= lt
            m = (lys < lyt).to(tl.float32)
        elif RULE == 1:  # student_ge_teacher
            acquired = ls >= lt
            m = (lys < lyt).to(tl.float32)
        elif RULE == 2:  # none: DKD
            acquired = cols < 0
            m = 1.0
        else:  # student_correct
            acquired = cols < 0
            m = (tl.argmax(zs, 0) != y).to(tl.float32)
        rest = valid & (~acquired) & (~is_y)
        has_rest = tl.max(rest.to(tl.int32), 0) > 0
        qs, lse_s = _rest_stats(ls, rest, has_rest)
        qt, lse_t = _rest_stats(lt, rest, has_rest)
        lk_s = _logaddexp(lys, lse_s)
        lk_t = _logaddexp(lyt, lse_t)
        lby_s = lys - lk_s
        lby_t = lyt - lk_t
        bty = tl.exp(lby_t)
        rest_term = tl.where(has_rest,
                             tl.exp(lse_t - lk_t) *
                             ((lse_t - lk_t) - (lse_s - lk_s)), 0.0)
        kl_bin = bty * (lby_t - lby_s) + rest_term
        pkd = tl.sum(tl.where(rest, qt * (lt - ls), 0.0), 0)
        pkd = tl.where(has_rest, pkd + lse_s - lse_t, 0.0)
        mdelta = m * (tl.exp(lby_s) - bty)
        tl.store(SKD + row, m * kl_bin * scale)
        tl.store(PKD + row, pkd * scale)
        g_skd = tl.where(is_y, mdelta, -mdelta * qs) * gscale
        g_pkd = (qs - qt) * gscale
        tl.store(GS + row * stride_g + cols, g_skd, mask=valid)
        tl.store(GP + row * stride_g + cols, g_pkd, mask=valid)


class _DCKDTriton(torch.autograd.Function):
    """Autograd wrapper: the kernel writes the per-part gradients in the
    forward; backward combines them with the upstream gradients."""

    @staticmethod
    def forward(ctx, preds_S: Tensor, preds_T: Tensor, labels: Tensor,
                tau: float, mask: str) -> Tuple[Tensor, Tensor]:
        n, c = preds_S.shape
        s = preds_S.detach().contiguous()
        t = preds_T.detach().contiguous()
        dev = s.device
        skd = torch.empty(n, device=dev, dtype=torch.float32)
        pkd = torch.empty(n, device=dev, dtype=torch.float32)
        gs = torch.empty(n, c, device=dev, dtype=torch.float32)
        gp = torch.empty(n, c, device=dev, dtype=torch.float32)
        if n:
            block = max(16, triton.next_power_of_2(c))
            _dckd_kernel[(n, )](
                s, t, labels.contiguous(), skd, pkd, gs, gp, s.stride(0),
                t.stride(0), gs.stride(0), c, 1.0 / tau, tau * tau, tau,
                RULE=RULE_IDS[mask], BLOCK=block,
                num_warps=4 if block <= 2048 else 8)
        ctx.save_for_backward(gs, gp)
        ctx.dtype = preds_S.dtype
        return skd, pkd

    @staticmethod
    def backward(ctx, g_skd: Optional[Tensor],
                 g_pkd: Optional[Tensor]) -> tuple:
        gs, gp = ctx.saved_tensors
        if g_skd is None:
            grad = gp * g_pkd.unsqueeze(1)
        elif g_pkd is None:
            grad = gs * g_skd.unsqueeze(1)
        else:
            grad = torch.addcmul(gp * g_pkd.unsqueeze(1), gs,
                                 g_skd.unsqueeze(1))
        return grad.to(ctx.dtype), None, None, None, None


def parts_or_none(preds_S: Tensor, preds_T: Tensor, labels: Tensor,
                  tau: float, mask: str
                  ) -> Tuple[Optional[Tensor], Optional[Tensor]]:
    """:func:`dckd_parts_triton`, or ``(None, None)`` if the kernel cannot
    be compiled on this machine (checked on the first call only, with a
    warning naming the error; later calls then take the PyTorch path).
    Errors after a first successful call are not caught."""
    global _KERNEL_OK
    if _KERNEL_OK:
        return dckd_parts_triton(preds_S, preds_T, labels, tau, mask)
    try:
        out = dckd_parts_triton(preds_S, preds_T, labels, tau, mask)
    except Exception as err:  # compilation / toolchain problems
        _KERNEL_OK = False
        warnings.warn('dckd_mm: the fused DCKD Triton kernel could not run '
                      f'here ({type(err).__name__}: {err}); using the '
                      'PyTorch path (same values, slower on a GPU).')
        return None, None
    _KERNEL_OK = True
    return out


def dckd_parts_triton(preds_S: Tensor, preds_T: Tensor, labels: Tensor,
                      tau: float, mask: str) -> Tuple[Tensor, Tensor]:
    """Per-sample ``(skd, pkd)`` (float32, ``(N,)``) from the fused kernel.

    Inputs are as for :func:`dckd_mm.models.losses.dckd_parts`, already
    checked: ``labels`` an ``(N,)`` integer tensor in ``[0, C)``. Works on
    CUDA tensors, or on CPU tensors under ``TRITON_INTERPRET=1``.
    """
    if triton is None:
        raise RuntimeError('Triton is not installed: use dckd_parts (the '
                           'PyTorch path).')
    return _DCKDTriton.apply(preds_S, preds_T, labels, float(tau), mask)
