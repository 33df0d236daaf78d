# Copyright (c) dckd_mm contributors. All rights reserved.
"""Decoupled Classifier Knowledge Distillation (DCKD) loss.

Wang, Dong, Zhu, Li. "Decoupled Classifier Knowledge Distillation",
PLOS ONE 2025, doi:10.1371/journal.pone.0314267.

The published text lost its equations; this module implements the project's
reading of the prose, defined in ``docs/method.md`` and restated here:

Per sample, with ``p = softmax(z / tau)``:

1. Acquired set ``A`` (detached): the classes on which the student is
   already at least as right as the teacher. Rule ``'as_good_as_teacher'``
   (default): a non-target class ``k`` is acquired when
   ``p_s[k] <= p_t[k]`` (the student gives it no more mass than the
   teacher); the rest ``R = non-target minus A`` are the wrong classes the
   student over-weights.
2. Target factor ``m`` (detached): ``0`` if ``p_s[y] >= p_t[y]`` (the
   target is acquired) else ``1``.
3. Support ``K = {y} U R``; classes in ``A`` are masked to ``-inf`` before
   the softmax, for teacher and student alike.
4. ``SKD = m * tau^2 * KL(e_t || e_s)`` with ``e = [p_K(y), 1 - p_K(y)]``.
5. ``PKD = tau^2 * KL(q_t || q_s)``, ``q`` the softmax over ``R``; zero
   when ``R`` is empty.
6. ``DCKD = alpha * SKD + beta * PKD``.

With ``m = 1`` SKD lowers every class of ``R`` and raises the target; PKD
only redistributes mass inside ``R``; classes in ``A`` get exactly zero
gradient. Other rules (``MASK_RULES``): ``'student_ge_teacher'`` (the
project's first reading, ``A = {k != y: p_s[k] >= p_t[k]}``, kept for the
ablation), ``'none'`` (``A`` empty, ``m = 1``: DKD) and
``'student_correct'`` (``A`` empty, ``m = 0`` where the student's top-1 is
right).

Every quantity is computed from ``log_softmax`` in float32 or wider (also
under autocast); sums over a class subset are taken relative to the
subset's own maximum (a log-sum-exp), so no ``log`` of a probability that
can underflow and no "subtract 1000" masking of the probabilities.
"""
import math
import os
from typing import Callable, Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    'dckd_loss', 'dckd_parts', 'MASK_RULES', 'PARTS', 'REDUCTIONS',
    'validate_logits_and_labels', 'debug_checks_enabled'
]

PARTS = ('both', 'skd', 'pkd')
REDUCTIONS = ('batchmean', 'sum', 'none')


# ----------------------------------------------------------------------------
# Mask rules. Each returns ``(acquired, target_weight)``:
#   acquired      (N, C) bool, True on non-target classes removed from K;
#   target_weight (N,) float, the SKD factor ``m``.
# They receive ``lp``, the detached log-softmax of the student and teacher
# logits divided by ``tau``, stacked as (2, N, C), and the (N, C) one-hot
# target mask.
# ----------------------------------------------------------------------------
def _target_factor(student_ge: Tensor, gt_mask: Tensor,
                   dtype: torch.dtype) -> Tensor:
    """``m = [p_s[y] < p_t[y]]`` from the ``(N, C)`` comparison
    ``lp_s >= lp_t``: SKD is off where the target is already acquired."""
    return (~(student_ge & gt_mask).any(dim=1)).to(dtype)


def _mask_as_good_as_teacher(lp: Tensor,
                             gt_mask: Tensor) -> Tuple[Tensor, Tensor]:
    """Default. ``A = {k != y : p_s[k] <= p_t[k]}``;
    ``m = [p_s[y] < p_t[y]]``: acquired where the student is at least as
    right as the teacher (no more mass on a wrong class, at least as much
    on the target). Compared as log-probabilities (never underflow).
    """
    m = _target_factor(lp[0] >= lp[1], gt_mask, lp.dtype)
    return (lp[0] <= lp[1]) & ~gt_mask, m


def _mask_student_ge_teacher(lp: Tensor,
                             gt_mask: Tensor) -> Tuple[Tensor, Tensor]:
    """First reading (ablation): ``A = {k != y : p_s[k] >= p_t[k]}``;
    ``m = [p_s[y] < p_t[y]]``. It removes exactly the wrong classes the
    student over-weights, so they never get a gradient (``docs/method.md``).

    Compared as log-probabilities (the same order), which never underflow:
    with large logits both probabilities can round to 0 and a ``0 >= 0``
    tie would wrongly mark a class as acquired.
    """
    ge = lp[0] >= lp[1]
    return ge & ~gt_mask, _target_factor(ge, gt_mask, lp.dtype)


def _mask_none(lp: Tensor, gt_mask: Tensor) -> Tuple[Tensor, Tensor]:
    """``A`` empty and ``m = 1``: DCKD reduces to DKD."""
    return torch.zeros_like(gt_mask), lp.new_ones(lp.shape[1])


def _mask_student_correct(lp: Tensor,
                          gt_mask: Tensor) -> Tuple[Tensor, Tensor]:
    """``A`` empty; ``m = 0`` where the student's top-1 is the label."""
    correct = gt_mask.gather(1, lp[0].argmax(dim=1,
                                             keepdim=True)).squeeze(1)
    return torch.zeros_like(gt_mask), (~correct).to(lp.dtype)


MASK_RULES: Dict[str, Callable[[Tensor, Tensor], Tuple[Tensor, Tensor]]] = {
    'as_good_as_teacher': _mask_as_good_as_teacher,
    'student_ge_teacher': _mask_student_ge_teacher,
    'none': _mask_none,
    'student_correct': _mask_student_correct,
}


def validate_logits_and_labels(preds_S: Tensor, preds_T: Tensor,
                               gt_labels: Tensor,
                               check_values: bool = True) -> Tensor:
    """Check logits and labels; return labels as an ``(N,)`` int64 tensor.

    Shapes and dtypes are checked always (host metadata, free). With
    ``check_values`` the label range and the logits' finiteness are checked
    too; that reads device values back to the host (a synchronisation on
    a GPU), so the training path checks them on the device instead
    (:func:`_device_check`) and calls this only to explain a failure.

    Raises:
        ValueError: on any shape, dtype, range or finiteness problem, with a
            message that names it.
    """
    for name, t in (('preds_S', preds_S), ('preds_T', preds_T),
                    ('gt_labels', gt_labels)):
        if not isinstance(t, Tensor):
            raise ValueError(f'{name} must be a torch.Tensor, got '
                             f'{type(t).__name__}.')
    if preds_S.dim() != 2:
        raise ValueError('preds_S must be (N, C) logits, got shape '
                         f'{tuple(preds_S.shape)}.')
    if preds_S.shape != preds_T.shape:
        raise ValueError(
            f'student logits {tuple(preds_S.shape)} and teacher logits '
            f'{tuple(preds_T.shape)} differ in shape: teacher and student '
            'must predict the same classes (check num_classes of both '
            'heads).')
    n, c = preds_S.shape
    if c < 2:
        raise ValueError(f'DCKD needs at least 2 classes, got C = {c}.')
    if not preds_S.is_floating_point() or not preds_T.is_floating_point():
        raise ValueError('logits must be floating point, got '
                         f'{preds_S.dtype} and {preds_T.dtype}.')
    if gt_labels.dim() == 2 and gt_labels.shape[1] == 1:
        gt_labels = gt_labels.reshape(-1)
    if gt_labels.dim() != 1 or gt_labels.shape[0] != n:
        raise ValueError(
            f'gt_labels must be (N,) class indices with N = {n} (an (N, 1) '
            f'column is accepted), got shape {tuple(gt_labels.shape)}. '
            'One-hot or soft labels (e.g. from Mixup/CutMix) are not '
            'supported by DCKD.')
    if gt_labels.is_floating_point() or gt_labels.is_complex() or \
            gt_labels.dtype == torch.bool:
        raise ValueError(
            'gt_labels must hold integer class indices, got dtype '
            f'{gt_labels.dtype}.')
    if not check_values:
        return gt_labels.long()
    if n > 0 and bool(((gt_labels < 0) | (gt_labels >= c)).any()):
        lo, hi = int(gt_labels.min()), int(gt_labels.max())
        if lo < 0 or hi >= c:
            raise ValueError(
                f'gt_labels must lie in [0, {c}), got values in '
                f'[{lo}, {hi}]: the labels do not fit the {c} classes of '
                'the logits (check num_classes).')
    for name, t in (('preds_S', preds_S), ('preds_T', preds_T)):
        if not bool(torch.isfinite(t).all()):
            raise ValueError(
                f'{name} contains NaN or Inf: training has diverged or '
                'the model emits invalid logits (lower the learning '
                'rate, check the input data, or use --amp with bf16).')
    return gt_labels.long()


def debug_checks_enabled(debug: Optional[bool] = None) -> bool:
    """Host-side value checks on (``debug=True`` or ``DCKD_MM_DEBUG=1``)."""
    if debug is not None:
        return bool(debug)
    return os.environ.get('DCKD_MM_DEBUG', '0') not in ('', '0')


def _device_check(ok: Tensor, message: str,
                  explain: Callable[[], None]) -> None:
    """Assert ``ok`` (a bool scalar tensor) without a host sync.

    On a GPU this is a device-side assert (``torch._assert_async``): the
    step is not stalled; a failure aborts the CUDA context with
    ``message`` (set ``DCKD_MM_DEBUG=1`` for a ``ValueError`` instead). On
    the CPU the assert runs at once and ``explain`` turns its failure into
    the ``ValueError`` that names the problem.
    """
    try:
        torch._assert_async(ok, message)
    except RuntimeError:
        explain()
        raise


def _check_options(tau: float, mask: str, parts: str,
                   reduction: str) -> None:
    if isinstance(tau, bool) or not isinstance(tau, (int, float)) or \
            not tau > 0 or tau == float('inf'):
        raise ValueError(f'tau must be a finite number > 0, got {tau!r}.')
    if mask not in MASK_RULES:
        raise ValueError(f'unknown mask rule {mask!r}; choose one of '
                         f'{sorted(MASK_RULES)}.')
    if parts not in PARTS:
        raise ValueError(f'unknown parts {parts!r}; choose one of {PARTS}.')
    if reduction not in REDUCTIONS:
        raise ValueError(f'unknown reduction {reduction!r}; choose one of '
                         f'{REDUCTIONS}.')


def _finish(lp: Tensor, q: Tensor, lp_y: Tensor, lse_r: Tensor, lk: Tensor,
            has_rest: Tensor, m: Tensor, scale: float) -> tuple:
    """SKD, PKD and the backward's ``m * delta`` from per-row log terms.

    ``lp`` (2, n, C): log-probabilities (student, teacher); ``q`` the
    softmax over R; ``lp_y``, ``lse_r``, ``lk``: (2, n) ``log p_y``,
    ``log sum_R p`` and ``log sum_K p``. All are shift-invariant, so any
    per-row normaliser of ``lp`` gives the same result.
    """
    zero = lp.new_zeros(())
    lb_y, lb_r = lp_y - lk, lse_r - lk  # log b_y, log b_rest
    bt_y = lb_y[1].exp()
    rest_term = torch.where(has_rest, lb_r[1].exp() * (lb_r[1] - lb_r[0]),
                            zero)
    kl_bin = bt_y * (lb_y[1] - lb_y[0]) + rest_term
    # KL(q_t || q_s) = sum_R q_t (lp_t - lp_s) + lse_r^s - lse_r^t
    pkd = torch.where(has_rest, (q[1] * (lp[1] - lp[0])).sum(1) +
                      lse_r[0] - lse_r[1], zero)
    return m * kl_bin * scale, pkd * scale, m * (lb_y[0].exp() - bt_y)


def _parts_exact(lp: Tensor, labels: Tensor, rest: Tensor, m: Tensor,
                 scale: float) -> tuple:
    """SKD, PKD, ``m * delta`` and ``q`` from the log-probabilities, exact
    for any logit range and without a branch on values.

    The sums over R are taken relative to R's own largest log-probability,
    so they are at least 1 and never underflow (a sum taken relative to
    the full normaliser vanishes when the target dwarfs R by hundreds of
    logits); ``q`` is one ``exp`` and a division.
    """
    has_rest = rest.any(dim=1)
    zero = lp.new_zeros(())
    lp_y = lp.gather(2, labels.view(1, -1, 1).expand(2, -1, 1)).squeeze(2)
    on_r = rest.to(lp.dtype)
    # R's row maximum: off R, lp is pushed to about -max_float (finite)
    fin = torch.finfo(lp.dtype)
    top = torch.addcmul(lp, 1.0 - on_r, on_r.new_ones(()), value=-fin.max)
    top = torch.where(has_rest, top.amax(dim=2), zero)
    # exp(lp - top) <= 1 on R (>= 1 in sum: no underflow); clamped to
    # [log(tiny), 0] so that exp stays on its fast path and nothing
    # overflows off R before the mask zeroes it (never inf * 0)
    q = (lp - top.unsqueeze(2)).clamp_(math.log(fin.tiny), 0.0)
    q = q.exp_().mul_(on_r)
    s_r = q.sum(dim=2)
    q.div_(torch.where(has_rest, s_r, lp.new_ones(())).unsqueeze(2))
    lse_r = torch.where(has_rest, top + s_r.log(), float('-inf'))
    lk = torch.logaddexp(lp_y, lse_r)  # logaddexp accepts -inf
    return (*_finish(lp, q, lp_y, lse_r, lk, has_rest, m, scale), q)


class _DCKDParts(torch.autograd.Function):
    """Per-sample ``(SKD, PKD)`` with an analytic backward.

    Inputs: ``preds_S`` (N, C) raw student logits (the differentiable
    input); ``lp`` (2, N, C) detached log-softmax of student and teacher
    logits divided by ``tau`` (float32 or wider); ``labels`` (N,); ``rest``
    (N, C) bool, the kept non-target classes ``R = non-target minus A``;
    ``m`` (N,) the SKD target factor; ``tau``.

    With ``q = softmax over R``, ``b_y = p_K(y)`` (``K = {y} U R``) and
    ``delta = b_y^s - b_y^t``, the gradients w.r.t. ``z_s = preds_S / tau``
    are ``dSKD/dz_y = m tau^2 delta``, ``dSKD/dz_k = -m tau^2 delta q^s_k``
    (k in R), ``dPKD/dz_k = tau^2 (q^s_k - q^t_k)`` (k in R) and 0 on A.
    Backward keeps ``q`` and one (N,) vector instead of autograd's graph of
    ~25 (N, C) intermediates. Nothing is read back to the host.
    """

    @staticmethod
    def forward(ctx, preds_S: Tensor, lp: Tensor, labels: Tensor,
                rest: Tensor, m: Tensor, tau: float) -> Tuple[Tensor, Tensor]:
        scale = float(tau)**2
        skd, pkd, mdelta, q = _parts_exact(lp, labels, rest, m, scale)
        ctx.save_for_backward(q, labels, mdelta)
        ctx.scale, ctx.tau, ctx.dtype = scale, float(tau), preds_S.dtype
        return skd, pkd

    @staticmethod
    def backward(ctx, g_skd: Optional[Tensor],
                 g_pkd: Optional[Tensor]) -> tuple:
        q, labels, mdelta = ctx.saved_tensors
        # d/dpreds_S = d/dz_s / tau: fold 1/tau into the scale
        scale = ctx.scale / ctx.tau
        if g_skd is None:
            g_skd = torch.zeros_like(mdelta)
        if g_pkd is None:
            g_pkd = torch.zeros_like(mdelta)
        a = (scale * g_pkd).unsqueeze(1)
        b = (scale * g_skd * mdelta).unsqueeze(1)
        grad = q[0] * (a - b) - q[1] * a
        grad.scatter_add_(1, labels.unsqueeze(1), b)
        return grad.to(ctx.dtype), None, None, None, None, None


def dckd_parts(preds_S: Tensor,
               preds_T: Tensor,
               gt_labels: Tensor,
               *,
               tau: float = 4.0,
               mask: str = 'as_good_as_teacher',
               debug: Optional[bool] = None) -> Tuple[Tensor, Tensor]:
    """Per-sample SKD and PKD of DCKD, each already scaled by ``tau^2``.

    Args:
        preds_S (Tensor): student logits, shape ``(N, C)``, ``C >= 2``.
        preds_T (Tensor): teacher logits, shape ``(N, C)``; detached here.
        gt_labels (Tensor): class indices, shape ``(N,)`` or ``(N, 1)``.
        tau (float): softmax temperature. Defaults to 4.0.
        mask (str): acquired-set rule, one of ``'as_good_as_teacher'``
            (default), ``'student_ge_teacher'``, ``'none'``,
            ``'student_correct'``.
        debug (bool, optional): check label range and finiteness on the
            host before computing (``ValueError`` on every device, at the
            cost of host syncs). ``None`` (default) reads
            ``DCKD_MM_DEBUG``; off, the checks run on the device.

    Returns:
        tuple[Tensor, Tensor]: ``(skd, pkd)``, each of shape ``(N,)``,
        float32 (float64 for float64 input); ``skd`` includes the target
        factor ``m``.
    """
    _check_options(tau, mask, 'both', 'none')
    return _parts(preds_S, preds_T, gt_labels, tau, mask, debug)


def _torch_parts(preds_S: Tensor, preds_T: Tensor, labels: Tensor,
                 tau: float, mask: str) -> Tuple[Tensor, Tensor]:
    """The PyTorch path (CPU, float64, and the reference of the kernel)."""
    # float32 at least (fp16/bf16 logits under autocast are upcast);
    # float64 stays float64.
    dtype = torch.promote_types(preds_S.dtype, torch.float32)
    with torch.no_grad():
        z = torch.stack((preds_S.detach().to(dtype),
                         preds_T.detach().to(dtype))).div_(tau)
        lp = F.log_softmax(z, dim=2)
        gt_mask = torch.zeros_like(lp[0], dtype=torch.bool).scatter_(
            1, labels.unsqueeze(1), True)
        acquired, m = MASK_RULES[mask](lp, gt_mask)
        rest = ~(acquired | gt_mask)
    return _DCKDParts.apply(preds_S, lp, labels, rest, m, tau)


def _parts(preds_S: Tensor, preds_T: Tensor, gt_labels: Tensor, tau: float,
           mask: str, debug: Optional[bool]) -> Tuple[Tensor, Tensor]:
    """:func:`dckd_parts` once the options have been checked.

    No value is read back to the host unless ``debug`` asks for it: the
    label range and the result's finiteness are device-side asserts.
    """
    host = debug_checks_enabled(debug)
    labels = validate_logits_and_labels(preds_S, preds_T, gt_labels,
                                        check_values=host)
    n, c = preds_S.shape

    def explain() -> None:
        validate_logits_and_labels(preds_S, preds_T, labels, True)
        raise ValueError('DCKD produced a non-finite value from finite '
                         'logits; please report this with the inputs.')

    if not host and n:
        _device_check(((labels >= 0) & (labels < c)).all(),
                      f'DCKD: gt_labels outside [0, {c})', explain)
    from . import dckd_triton
    if dckd_triton.triton_available(preds_S):
        skd, pkd = dckd_triton.parts_or_none(preds_S, preds_T, labels, tau,
                                             mask)
        if skd is None:  # the kernel could not be built here
            skd, pkd = _torch_parts(preds_S, preds_T, labels, tau, mask)
    else:
        skd, pkd = _torch_parts(preds_S, preds_T, labels, tau, mask)
    if not host and n:
        _device_check(torch.isfinite(skd + pkd).all(),
                      'DCKD: NaN or Inf loss (the logits are not finite)',
                      explain)
    return skd, pkd


def dckd_loss(preds_S: Tensor,
              preds_T: Tensor,
              gt_labels: Tensor,
              *,
              tau: float = 4.0,
              alpha: float = 1.0,
              beta: float = 0.5,
              mask: str = 'as_good_as_teacher',
              parts: str = 'both',
              reduction: str = 'batchmean',
              debug: Optional[bool] = None) -> Tensor:
    """Decoupled Classifier Knowledge Distillation loss.

    ``DCKD = alpha * SKD + beta * PKD`` (see the module docstring and
    ``docs/method.md``). Paper defaults: ``tau=4``, ``alpha=1``,
    ``beta=0.5``. On CUDA (float32/16, ``C <= 8192``) one fused Triton
    kernel per call computes the masks, both parts and the gradient
    (:mod:`.dckd_triton`); elsewhere the PyTorch path runs. Neither reads a
    value back to the host.

    Args:
        preds_S (Tensor): student logits, shape ``(N, C)``.
        preds_T (Tensor): teacher logits, shape ``(N, C)``. No gradient
            reaches them.
        gt_labels (Tensor): integer class indices in ``[0, C)``, shape
            ``(N,)`` (an ``(N, 1)`` column is accepted).
        tau (float): temperature, ``> 0``. Defaults to 4.0.
        alpha (float): weight of SKD (target vs. rest). Defaults to 1.0.
        beta (float): weight of PKD (among the rest). Defaults to 0.5.
        mask (str): ``'as_good_as_teacher'`` (default),
            ``'student_ge_teacher'`` (the first reading), ``'none'`` (DKD)
            or ``'student_correct'``.
        parts (str): ``'both'`` (default), ``'skd'`` or ``'pkd'``; the
            ablation switch. The chosen part keeps its weight.
        reduction (str): ``'batchmean'`` (default; sum over samples / N),
            ``'sum'`` or ``'none'`` (per-sample ``(N,)`` vector).
        debug (bool, optional): host-side value checks (see
            :func:`dckd_parts`). Defaults to ``DCKD_MM_DEBUG`` (off).

    Returns:
        Tensor: scalar loss (float32, or float64 for float64 input), or
        ``(N,)`` for ``reduction='none'``.

    Raises:
        ValueError: bad shapes, labels, ``tau``, mask rule, parts or
            reduction; NaN/Inf logits (on a GPU only with ``debug``: there
            the device-side assert stops the run instead).
    """
    _check_options(tau, mask, parts, reduction)
    skd, pkd = _parts(preds_S, preds_T, gt_labels, tau, mask, debug)
    if parts == 'both':
        per_sample = alpha * skd + beta * pkd
    elif parts == 'skd':
        per_sample = alpha * skd
    else:
        per_sample = beta * pkd
    return reduce_per_sample(per_sample, reduction)


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
