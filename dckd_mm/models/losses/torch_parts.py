# Copyright (c) dckd_mm contributors. All rights reserved.
"""The PyTorch path of DCKD: every device and dtype, and the reference the
fused Triton kernel is checked against.

DCKD (Wang et al., PLOS ONE 2025, doi:10.1371/journal.pone.0314267) as
``docs/method.md`` defines it, per sample with ``p = softmax(z / tau)``,
``R`` the kept non-target classes of the mask rule (:mod:`.mask_rules`)
and ``K = {y} U R``:

- ``SKD = m tau^2 KL(e_t || e_s)``, ``e = [p_K(y), 1 - p_K(y)]``;
- ``PKD = tau^2 KL(q_t || q_s)``, ``q`` the softmax over ``R`` (0 if ``R``
  is empty).

Everything is computed from ``log_softmax`` in float32 or wider (also under
autocast). Sums over ``R`` are taken relative to ``R``'s own maximum (a
log-sum-exp), so nothing underflows; no "subtract 1000" masking and no
``log`` of a probability. The backward is closed-form (with ``b_y = p_K(y)``
and ``delta = b_y^s - b_y^t``, gradients w.r.t. ``z_s = preds_S / tau``):
``dSKD/dz_y = m tau^2 delta``, ``dSKD/dz_k = -m tau^2 delta q_s[k]`` and
``dPKD/dz_k = tau^2 (q_s[k] - q_t[k])`` for ``k`` in ``R``, 0 on ``A``.

One autograd function returns either the two parts or, for
:func:`dckd_mm.models.losses.dckd_loss`, the weighted and reduced loss
itself: the weights and the reduction then cost no autograd node of their
own (on the CPU, at a few hundred microseconds a call, each node counts).
"""
import math
from typing import NamedTuple, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .mask_rules import MASK_RULES

__all__ = [
    'Combine', 'TorchTerms', 'log_probs', 'torch_terms', 'grad_from_terms',
    'dckd_parts_torch', 'dckd_loss_torch', 'reduce_per_sample'
]


class Combine(NamedTuple):
    """How the per-sample parts become the loss: ``w_skd * skd + w_pkd *
    pkd``, then ``reduction`` (``'batchmean'``, ``'sum'`` or ``'none'``)."""

    w_skd: float
    w_pkd: float
    reduction: str


class TorchTerms(NamedTuple):
    """What the PyTorch path computes (all detached).

    Attributes:
        lp (Tensor): ``(2, N, C)`` log-probabilities, student and teacher,
            float32 or wider.
        skd (Tensor): ``(N,)`` SKD, ``tau^2`` and ``m`` included.
        pkd (Tensor): ``(N,)`` PKD, ``tau^2`` included.
        mdelta (Tensor): ``(N,)`` ``m * (b_y^s - b_y^t)``.
        q (Tensor): ``(2, N, C)`` softmax over ``R`` (0 off ``R``).
    """

    lp: Tensor
    skd: Tensor
    pkd: Tensor
    mdelta: Tensor
    q: Tensor


def log_probs(preds_S: Tensor, preds_T: Tensor, tau: float) -> Tensor:
    """``(2, N, C)`` detached ``log_softmax(z / tau)`` of student and
    teacher, in float32 (fp16/bf16 input is upcast) or float64."""
    dtype = torch.promote_types(preds_S.dtype, torch.float32)
    z = torch.stack((preds_S.detach().to(dtype), preds_T.detach().to(dtype)))
    return F.log_softmax(z.div_(tau), dim=2)


def torch_terms(preds_S: Tensor, preds_T: Tensor, labels: Tensor,
                tau: float, mask: str) -> TorchTerms:
    """SKD, PKD and the saved terms of the backward, exact for any logit
    range and without a branch on values (nothing read back to the host).

    ``labels`` are ``(N,)`` int64, already checked. The sums over ``R`` are
    relative to ``R``'s largest log-probability: at least 1, so they never
    underflow (a sum relative to the full normaliser vanishes when the
    target dwarfs ``R`` by hundreds of logits).
    """
    with torch.no_grad():
        lp = log_probs(preds_S, preds_T, tau)
        lp_y = lp.gather(2, labels.view(1, -1, 1).expand(2, -1, 1))
        on_r, m = MASK_RULES[mask](lp, lp_y.squeeze(2), labels)
        fin = torch.finfo(lp.dtype)
        # R's row maximum: off R lp is pushed to about -max_float (finite;
        # rows without R get it too). Float arithmetic, no bool masks.
        top = torch.add(lp, on_r - 1.0, alpha=fin.max).amax(dim=2,
                                                            keepdim=True)
        # exp(lp - top) <= 1 on R (sum >= 1: no underflow); clamped to
        # [log(tiny), 0] so that exp stays on its fast path and nothing
        # overflows off R before the mask zeroes it
        q = (lp - top).clamp_(math.log(fin.tiny), 0.0).exp_().mul_(on_r)
        s_r = q.sum(dim=2, keepdim=True)  # >= 1 with R, 0 without
        q.mul_(s_r.clamp(min=1.0).reciprocal_())
        # log sum_R p; -max_float (not -inf) without R, so that the
        # differences below are 0, not nan, and no branch is needed
        lse_r = s_r.log_().add_(top).clamp_(min=-fin.max)
        # (log p_y, log sum_R p) - log sum_K p: log b_y, log b_rest
        lk = torch.logaddexp(lp_y, lse_r)
        lb = torch.cat((lp_y, lse_r), dim=2).sub_(lk)
        b_t = lb[1].exp()
        kl_bin = (b_t * (lb[1] - lb[0])).sum(dim=1)
        # KL(q_t || q_s) = sum_R q_t (lp_t - lp_s) + lse_r^s - lse_r^t
        pkd = (q[1] * (lp[1] - lp[0])).sum(dim=1)
        pkd += lse_r[0, :, 0] - lse_r[1, :, 0]
        scale = float(tau)**2
        mdelta = m * (lb[0, :, 0].exp() - b_t[:, 0])
        return TorchTerms(lp, (m * scale) * kl_bin, pkd.mul_(scale), mdelta,
                          q)


def _combine(skd: Tensor, pkd: Tensor, how: Combine) -> Tensor:
    skd = skd if how.w_skd == 1.0 else skd * how.w_skd
    per_sample = torch.add(skd, pkd, alpha=how.w_pkd)
    return reduce_per_sample(per_sample, how.reduction)


def grad_from_terms(q: Tensor, labels: Tensor, mdelta: Tensor,
                    g_skd: Tensor, g_pkd: Tensor, tau: float) -> Tensor:
    """``d(g_skd . SKD + g_pkd . PKD) / d preds_S``, ``(N, C)`` float32+.

    ``g_skd``, ``g_pkd``: upstream weights, ``(N,)`` or scalars (0-dim).
    """
    scale = float(tau)  # tau^2 of the parts, 1 / tau of z = preds_S / tau
    a = (g_pkd * scale).reshape(-1, 1)
    b = (g_skd * scale * mdelta).unsqueeze(1)
    return _grad(q, labels, a, b)


def _grad(q: Tensor, labels: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """``q_s (a - b) - q_t a``, plus ``b`` on the target: the closed form
    with ``a = tau g_pkd`` and ``b = tau g_skd m delta`` (``(N, 1)``)."""
    grad = torch.addcmul(q[0] * (a - b), q[1], a, value=-1.0)
    return grad.scatter_add_(1, labels.unsqueeze(1), b)


class _DCKDParts(torch.autograd.Function):
    """The PyTorch path with its closed-form backward.

    Inputs: ``preds_S`` (N, C) raw student logits (the differentiable
    input), ``preds_T`` (N, C), ``labels`` (N,), ``tau``, ``mask`` and
    ``combine``: ``None`` to return ``(skd, pkd)``, or a :class:`Combine`
    to return the weighted, reduced loss. Backward keeps ``q`` and one
    ``(N,)`` vector instead of autograd's graph of ~25 (N, C)
    intermediates. Nothing is read back to the host.
    """

    @staticmethod
    def forward(ctx, preds_S: Tensor, preds_T: Tensor, labels: Tensor,
                tau: float, mask: str, combine: Optional[Combine]):
        terms = torch_terms(preds_S, preds_T, labels, tau, mask)
        ctx.save_for_backward(terms.q, labels, terms.mdelta)
        ctx.tau, ctx.dtype, ctx.combine = tau, preds_S.dtype, combine
        ctx.n = preds_S.shape[0]
        if combine is None:
            return terms.skd, terms.pkd
        return _combine(terms.skd, terms.pkd, combine)

    @staticmethod
    def backward(ctx, *grads: Optional[Tensor]) -> tuple:
        q, labels, mdelta = ctx.saved_tensors
        how = ctx.combine
        if how is None:
            g_skd, g_pkd = grads
            zero = mdelta.new_zeros(())
            g_skd = zero if g_skd is None else g_skd
            g_pkd = zero if g_pkd is None else g_pkd
            grad = grad_from_terms(q, labels, mdelta, g_skd, g_pkd, ctx.tau)
        else:
            # the weights, 1 / N and tau folded into two host floats
            g = grads[0]
            div = max(ctx.n, 1) if how.reduction == 'batchmean' else 1
            a = (g * (ctx.tau * how.w_pkd / div)).reshape(-1, 1)
            b = (mdelta * g).mul_(ctx.tau * how.w_skd / div).unsqueeze(1)
            grad = _grad(q, labels, a, b)
        return grad.to(ctx.dtype), None, None, None, None, None


def dckd_parts_torch(preds_S: Tensor, preds_T: Tensor, labels: Tensor,
                     tau: float, mask: str) -> Tuple[Tensor, Tensor]:
    """Per-sample ``(skd, pkd)`` ``(N,)`` of the PyTorch path; inputs as
    for :func:`dckd_mm.models.losses.dckd_parts`, already checked."""
    return _DCKDParts.apply(preds_S, preds_T, labels, float(tau), mask,
                            None)


def dckd_loss_torch(preds_S: Tensor, preds_T: Tensor, labels: Tensor,
                    tau: float, mask: str, combine: Combine) -> Tensor:
    """The weighted, reduced loss of the PyTorch path in one autograd
    node; inputs already checked."""
    return _DCKDParts.apply(preds_S, preds_T, labels, float(tau), mask,
                            combine)


def reduce_per_sample(per_sample: Tensor, reduction: str,
                      n: Optional[int] = None) -> Tensor:
    """Reduce an ``(N,)`` loss vector: ``'batchmean'``, ``'sum'``,
    ``'none'``. An empty batch gives 0 (not NaN) for ``'batchmean'``."""
    if reduction == 'none':
        return per_sample
    total = per_sample.sum()
    if reduction == 'sum':
        return total
    n = per_sample.shape[0] if n is None else n
    return total / max(n, 1)
