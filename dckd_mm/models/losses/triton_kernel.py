# Copyright (c) dckd_mm contributors. All rights reserved.
"""DCKD forward + backward fused in one Triton kernel (CUDA).

DCKD: Wang et al., PLOS ONE 2025, doi:10.1371/journal.pone.0314267; the
loss as ``docs/method.md`` defines it.

One program per sample row: it reads the row's student and teacher logits
once, computes both log-softmaxes, the acquired set and target factor of
the mask rule, SKD, PKD and the gradient of each part with respect to the
student logits, and writes ``skd``, ``pkd`` ``(N,)`` and the two gradient
rows ``(N, C)``. Backward is then one multiply-add with the upstream
gradients. The math is :func:`dckd_mm.models.losses.torch_parts.torch_terms`
(the PyTorch path, the kernel's reference): sums over ``R`` relative to
``R``'s own maximum, so nothing underflows and nothing is read back to the
host. The mask rule's branch ``RULE`` is the rule's ``kernel_id`` in
:data:`dckd_mm.models.losses.mask_rules.MASK_RULES`.

This module only builds and launches the kernel; which backend runs, and
the self-check of the kernel at first use, are
:mod:`dckd_mm.models.losses.backend`'s. The tests run the kernel on the CPU
through Triton's interpreter (``TRITON_INTERPRET=1``, set before this
module is imported); it has not run compiled on a GPU in this project yet
(``tools/analysis_tools/device_check.py`` is the check for a GPU machine).
"""
import os
from typing import Optional, Tuple

import torch
from torch import Tensor

from .torch_parts import Combine, reduce_per_sample

__all__ = [
    'HAVE_TRITON', 'MAX_CLASSES', 'DTYPES', 'interpreting', 'block_size',
    'launch', 'from_kernel'
]

MAX_CLASSES = 8192
DTYPES = (torch.float32, torch.float16, torch.bfloat16)

try:  # Triton ships with CUDA builds of torch; absent elsewhere
    import triton
    import triton.language as tl
except ImportError:  # pragma: no cover - depends on the install
    triton = None
    tl = None

HAVE_TRITON = triton is not None


def interpreting() -> bool:
    """Whether Triton's CPU interpreter is on (``TRITON_INTERPRET=1``, read
    by Triton when the kernel is defined, at this module's import)."""
    return os.environ.get('TRITON_INTERPRET', '0') not in ('', '0')


def block_size(c: int) -> int:
    """The kernel's ``BLOCK`` for ``C`` classes: the next power of two,
    at least 16 (one compiled variant per block size)."""
    return max(16, 1 << (max(c, 1) - 1).bit_length())


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


def launch(preds_S: Tensor, preds_T: Tensor, labels: Tensor, tau: float,
           rule_id: int) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """Run the kernel once: ``(skd, pkd, grad_skd, grad_pkd)``.

    Args:
        preds_S (Tensor): student logits ``(N, C)``, float32/16/bf16,
            ``C <= MAX_CLASSES``, on CUDA (or the CPU under the
            interpreter).
        preds_T (Tensor): teacher logits ``(N, C)``, same device.
        labels (Tensor): ``(N,)`` integer labels in ``[0, C)`` (checked).
        tau (float): temperature.
        rule_id (int): the mask rule's ``kernel_id``.

    Returns:
        tuple: ``skd``, ``pkd`` ``(N,)`` float32 (``tau^2`` and ``m``
        included) and the gradients of their sums w.r.t. ``preds_S``,
        ``(N, C)`` float32. Nothing is differentiable.
    """
    if triton is None:
        raise RuntimeError('Triton is not installed.')
    n, c = preds_S.shape
    s = preds_S.detach().contiguous()
    t = preds_T.detach().contiguous()
    dev = s.device
    skd = torch.empty(n, device=dev, dtype=torch.float32)
    pkd = torch.empty(n, device=dev, dtype=torch.float32)
    gs = torch.empty(n, c, device=dev, dtype=torch.float32)
    gp = torch.empty(n, c, device=dev, dtype=torch.float32)
    if n:
        block = block_size(c)
        tau = float(tau)
        _dckd_kernel[(n, )](
            s, t, labels.contiguous(), skd, pkd, gs, gp, s.stride(0),
            t.stride(0), gs.stride(0), c, 1.0 / tau, tau * tau, tau,
            RULE=rule_id, BLOCK=block, num_warps=4 if block <= 2048 else 8)
    return skd, pkd, gs, gp


class _DCKDTriton(torch.autograd.Function):
    """Autograd wrapper of the kernel's outputs: the kernel wrote the
    per-part gradients in the forward; backward combines them with the
    upstream gradients (one multiply-add). ``combine`` as for the PyTorch
    path: ``None`` returns ``(skd, pkd)``, a :class:`Combine` the loss."""

    @staticmethod
    def forward(ctx, preds_S: Tensor, skd: Tensor, pkd: Tensor, gs: Tensor,
                gp: Tensor, combine: Optional[Combine]):
        ctx.save_for_backward(gs, gp)
        ctx.dtype, ctx.combine, ctx.n = preds_S.dtype, combine, skd.shape[0]
        if combine is None:
            return skd.clone(), pkd.clone()
        skd = skd if combine.w_skd == 1.0 else skd * combine.w_skd
        return reduce_per_sample(torch.add(skd, pkd, alpha=combine.w_pkd),
                                 combine.reduction)

    @staticmethod
    def backward(ctx, *grads: Optional[Tensor]) -> tuple:
        gs, gp = ctx.saved_tensors
        how = ctx.combine
        if how is None:
            g_skd, g_pkd = grads
            if g_skd is None:
                grad = gp * g_pkd.unsqueeze(1)
            elif g_pkd is None:
                grad = gs * g_skd.unsqueeze(1)
            else:
                grad = torch.addcmul(gp * g_pkd.unsqueeze(1), gs,
                                     g_skd.unsqueeze(1))
        else:
            g = grads[0]
            if how.reduction == 'batchmean':
                g = g / max(ctx.n, 1)
            g = g.reshape(-1, 1)
            grad = torch.addcmul(gp * (g * how.w_pkd), gs, g * how.w_skd)
        return grad.to(ctx.dtype), None, None, None, None, None


def from_kernel(preds_S: Tensor, outputs: Tuple[Tensor, Tensor, Tensor,
                                                Tensor],
                combine: Optional[Combine]):
    """Attach the kernel's ``outputs`` (from :func:`launch`) to the graph
    of ``preds_S``: ``(skd, pkd)``, or the loss when ``combine`` is set."""
    return _DCKDTriton.apply(preds_S, *outputs, combine)
