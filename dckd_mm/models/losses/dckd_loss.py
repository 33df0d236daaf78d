# Copyright (c) dckd_mm contributors. All rights reserved.
"""Decoupled Classifier Knowledge Distillation (DCKD) loss.

Wang, Dong, Zhu, Li. "Decoupled Classifier Knowledge Distillation",
PLOS ONE 2025, doi:10.1371/journal.pone.0314267.

The published text lost its equations; this module implements the project's
reading of the prose (``shared/DCKD.md``), restated here:

Per sample, with ``p = softmax(z / tau)``:

1. Acquired set ``A`` (detached): non-target classes the student already
   holds. Rule ``'student_ge_teacher'`` (default):
   ``A = {k != y : p_s[k] >= p_t[k]}``.
2. Target fixed ``m`` (detached): ``0`` if ``p_s[y] >= p_t[y]`` else ``1``.
3. Support ``K = {y} U (non-target minus A)``; classes in ``A`` are masked to
   ``-inf`` before the softmax, for teacher and student alike.
4. ``SKD = m * tau^2 * KL(e_t || e_s)`` with ``e = [p_K(y), 1 - p_K(y)]``.
5. ``PKD = tau^2 * KL(q_t || q_s)``, ``q`` the softmax over
   ``non-target minus A``; zero when that set is empty.
6. ``DCKD = alpha * SKD + beta * PKD``.

Every quantity is computed in log space from ``log_softmax`` /
``logsumexp`` over masked logits, in float32 or wider (also under autocast): no
``log`` of a probability that can underflow and no "subtract 1000" trick.
"""
from typing import Callable, Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    'dckd_loss', 'dckd_parts', 'MASK_RULES', 'PARTS', 'REDUCTIONS',
    'validate_logits_and_labels'
]

PARTS = ('both', 'skd', 'pkd')
REDUCTIONS = ('batchmean', 'sum', 'none')


# ----------------------------------------------------------------------------
# Mask rules. Each returns ``(acquired, target_weight)``:
#   acquired      (N, C) bool, True on non-target classes removed from K;
#   target_weight (N,) float, the SKD factor ``m``.
# They receive detached float32 logits already divided by ``tau`` and the
# (N, C) one-hot target mask. They run under ``torch.no_grad()``.
# ----------------------------------------------------------------------------
def _mask_student_ge_teacher(zs: Tensor, zt: Tensor,
                             gt_mask: Tensor) -> Tuple[Tensor, Tensor]:
    """``A = {k != y : p_s[k] >= p_t[k]}``; ``m = [p_s[y] < p_t[y]]``.

    Compared as log-probabilities (the same order), which never underflow:
    with large logits both probabilities can round to 0 and a ``0 >= 0``
    tie would wrongly mark a class as acquired.
    """
    ge = F.log_softmax(zs, dim=1) >= F.log_softmax(zt, dim=1)
    acquired = ge & ~gt_mask
    target_held = (ge & gt_mask).any(dim=1)
    return acquired, (~target_held).to(zs.dtype)


def _mask_none(zs: Tensor, zt: Tensor,
               gt_mask: Tensor) -> Tuple[Tensor, Tensor]:
    """``A`` empty and ``m = 1``: DCKD reduces to DKD."""
    return (torch.zeros_like(gt_mask), zs.new_ones(zs.shape[0]))


def _mask_student_correct(zs: Tensor, zt: Tensor,
                          gt_mask: Tensor) -> Tuple[Tensor, Tensor]:
    """``A`` empty; ``m = 0`` where the student's top-1 is the label."""
    correct = gt_mask.gather(1, zs.argmax(dim=1, keepdim=True)).squeeze(1)
    return torch.zeros_like(gt_mask), (~correct).to(zs.dtype)


MASK_RULES: Dict[str, Callable[[Tensor, Tensor, Tensor], Tuple[Tensor,
                                                              Tensor]]] = {
    'student_ge_teacher': _mask_student_ge_teacher,
    'none': _mask_none,
    'student_correct': _mask_student_correct,
}


def validate_logits_and_labels(preds_S: Tensor, preds_T: Tensor,
                               gt_labels: Tensor,
                               check_finite: bool = True) -> Tensor:
    """Check logits and labels; return labels as an ``(N,)`` int64 tensor.

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
    if n > 0:
        lo, hi = int(gt_labels.min()), int(gt_labels.max())
        if lo < 0 or hi >= c:
            raise ValueError(
                f'gt_labels must lie in [0, {c}), got values in '
                f'[{lo}, {hi}]: the labels do not fit the {c} classes of '
                'the logits (check num_classes).')
    if check_finite:
        for name, t in (('preds_S', preds_S), ('preds_T', preds_T)):
            if not bool(torch.isfinite(t).all()):
                raise ValueError(
                    f'{name} contains NaN or Inf: training has diverged or '
                    'the model emits invalid logits (lower the learning '
                    'rate, check the input data, or use --amp with bf16).')
    return gt_labels.long()


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


def _kl_rows(log_t: Tensor, log_s: Tensor, valid: Tensor) -> Tensor:
    """Row sums of ``p_t * (log p_t - log p_s)`` over ``valid`` entries.

    Invalid entries (``-inf`` logs of masked classes) contribute exactly 0
    and no NaN reaches the gradient.
    """
    zero = log_s.new_zeros(())
    log_t = torch.where(valid, log_t, zero)
    log_s = torch.where(valid, log_s, zero)
    terms = torch.where(valid, log_t.exp() * (log_t - log_s), zero)
    return terms.sum(dim=1)


def _masked_log_softmax(z: Tensor, drop: Tensor,
                        row_ok: Tensor) -> Tensor:
    """``log_softmax`` over the classes not in ``drop`` (masked to -inf).

    Rows where every class is dropped (``row_ok`` False) are computed on the
    unmasked logits instead so that neither value nor gradient is NaN; the
    caller discards them.
    """
    drop = drop & row_ok.unsqueeze(1)
    return F.log_softmax(z.masked_fill(drop, float('-inf')), dim=1)


def dckd_parts(preds_S: Tensor,
               preds_T: Tensor,
               gt_labels: Tensor,
               *,
               tau: float = 4.0,
               mask: str = 'student_ge_teacher',
               check_finite: bool = True) -> Tuple[Tensor, Tensor]:
    """Per-sample SKD and PKD of DCKD, each already scaled by ``tau^2``.

    Args:
        preds_S (Tensor): student logits, shape ``(N, C)``, ``C >= 2``.
        preds_T (Tensor): teacher logits, shape ``(N, C)``; detached here.
        gt_labels (Tensor): class indices, shape ``(N,)`` or ``(N, 1)``.
        tau (float): softmax temperature. Defaults to 4.0.
        mask (str): acquired-set rule, one of ``'student_ge_teacher'``
            (default), ``'none'``, ``'student_correct'``.
        check_finite (bool): refuse NaN/Inf logits. Defaults to True.

    Returns:
        tuple[Tensor, Tensor]: ``(skd, pkd)``, each of shape ``(N,)``,
        float32 (float64 for float64 input); ``skd`` includes the target
        factor ``m``.
    """
    _check_options(tau, mask, 'both', 'none')
    labels = validate_logits_and_labels(preds_S, preds_T, gt_labels,
                                        check_finite)
    # float32 at least (fp16/bf16 logits under autocast are upcast);
    # float64 stays float64.
    dtype = torch.promote_types(preds_S.dtype, torch.float32)
    zs = preds_S.to(dtype) / tau
    zt = preds_T.detach().to(dtype) / tau
    gt_mask = F.one_hot(labels, zs.shape[1]).bool()
    with torch.no_grad():
        acquired, m = MASK_RULES[mask](zs.detach(), zt, gt_mask)
    rest = ~(acquired | gt_mask)  # non-target classes kept: K minus {y}
    has_rest = rest.any(dim=1)

    # SKD: binary (target, rest) distribution over the support K.
    def binary_logs(z: Tensor) -> Tuple[Tensor, Tensor]:
        lse_k = torch.logsumexp(z.masked_fill(acquired, float('-inf')), 1)
        safe_rest = z.masked_fill(~rest & has_rest.unsqueeze(1),
                                  float('-inf'))
        lse_rest = torch.logsumexp(safe_rest, 1)
        log_target = z.gather(1, labels.unsqueeze(1)).squeeze(1) - lse_k
        return log_target, lse_rest - lse_k

    with torch.no_grad():
        lt_y, lt_r = binary_logs(zt)
    ls_y, ls_r = binary_logs(zs)
    bin_valid = torch.stack([torch.ones_like(has_rest), has_rest], dim=1)
    skd = _kl_rows(
        torch.stack([lt_y, lt_r], 1), torch.stack([ls_y, ls_r], 1),
        bin_valid)

    # PKD: distribution among the kept non-target classes.
    with torch.no_grad():
        log_qt = _masked_log_softmax(zt, ~rest, has_rest)
    log_qs = _masked_log_softmax(zs, ~rest, has_rest)
    pkd = _kl_rows(log_qt, log_qs, rest & has_rest.unsqueeze(1))

    scale = float(tau)**2
    return m * skd * scale, pkd * scale


def dckd_loss(preds_S: Tensor,
              preds_T: Tensor,
              gt_labels: Tensor,
              *,
              tau: float = 4.0,
              alpha: float = 1.0,
              beta: float = 0.5,
              mask: str = 'student_ge_teacher',
              parts: str = 'both',
              reduction: str = 'batchmean',
              check_finite: bool = True) -> Tensor:
    """Decoupled Classifier Knowledge Distillation loss.

    ``DCKD = alpha * SKD + beta * PKD`` (see the module docstring and
    ``shared/DCKD.md``). Paper defaults: ``tau=4``, ``alpha=1``,
    ``beta=0.5``.

    Args:
        preds_S (Tensor): student logits, shape ``(N, C)``.
        preds_T (Tensor): teacher logits, shape ``(N, C)``. No gradient
            reaches them.
        gt_labels (Tensor): integer class indices in ``[0, C)``, shape
            ``(N,)`` (an ``(N, 1)`` column is accepted).
        tau (float): temperature, ``> 0``. Defaults to 4.0.
        alpha (float): weight of SKD (target vs. rest). Defaults to 1.0.
        beta (float): weight of PKD (among the rest). Defaults to 0.5.
        mask (str): ``'student_ge_teacher'`` (default), ``'none'`` (DKD)
            or ``'student_correct'``.
        parts (str): ``'both'`` (default), ``'skd'`` or ``'pkd'``; the
            ablation switch. The chosen part keeps its weight.
        reduction (str): ``'batchmean'`` (default; sum over samples / N),
            ``'sum'`` or ``'none'`` (per-sample ``(N,)`` vector).
        check_finite (bool): raise on NaN/Inf logits. Defaults to True.

    Returns:
        Tensor: scalar loss (float32, or float64 for float64 input), or
        ``(N,)`` for ``reduction='none'``.

    Raises:
        ValueError: bad shapes, labels, ``tau``, mask rule, parts or
            reduction.
    """
    _check_options(tau, mask, parts, reduction)
    skd, pkd = dckd_parts(
        preds_S,
        preds_T,
        gt_labels,
        tau=tau,
        mask=mask,
        check_finite=check_finite)
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
