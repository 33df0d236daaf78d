# Copyright (c) dckd_mm contributors. All rights reserved.
"""Checks of DCKD's options and inputs, shared by ``dckd_loss``,
``DCKDLoss`` and the launcher's config check.

- :func:`check_dckd_options`: every option of DCKD (Wang et al., PLOS ONE
  2025) with its range; raises :class:`~dckd_mm.errors.ConfigError`.
- :func:`validate_logits_and_labels`: shapes and dtypes always (host
  metadata, free), label range and finiteness on request (a host read).
- :func:`device_assert`: the same value checks without a host sync.

Imports torch and :mod:`dckd_mm.errors` only.
"""
import math
import os
from numbers import Real
from typing import Any, Callable, Optional

import torch
from torch import Tensor

from ...errors import ConfigError
from .mask_rules import MASK_RULES

__all__ = [
    'PARTS', 'REDUCTIONS', 'BACKENDS', 'check_dckd_options',
    'validate_logits_and_labels', 'debug_checks_enabled', 'device_assert'
]

PARTS = ('both', 'skd', 'pkd')
REDUCTIONS = ('batchmean', 'sum', 'none')
BACKENDS = ('auto', 'torch', 'triton')


def _is_number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def check_dckd_options(*,
                       tau: Any = 4.0,
                       alpha: Any = 1.0,
                       beta: Any = 0.5,
                       mask: Any = 'as_good_as_teacher',
                       parts: Any = 'both',
                       reduction: Any = 'batchmean',
                       backend: Any = 'auto',
                       loss_weight: Any = 1.0,
                       warmup_epochs: Any = 0,
                       where: Optional[str] = None) -> None:
    """Refuse any DCKD option out of its range, naming it.

    Every argument defaults to ``DCKDLoss``'s default, so a caller passes
    only what it has (the launcher: the keys present in a config node).

    Args:
        tau: temperature, a finite number ``> 0``. Defaults to 4.0.
        alpha: SKD weight, finite and ``>= 0``. Defaults to 1.0.
        beta: PKD weight, finite and ``>= 0``. Defaults to 0.5.
        mask: a key of :data:`MASK_RULES`. Defaults to
            ``'as_good_as_teacher'``.
        parts: one of :data:`PARTS`. Defaults to ``'both'``.
        reduction: one of :data:`REDUCTIONS`. Defaults to ``'batchmean'``.
        backend: one of :data:`BACKENDS`. Defaults to ``'auto'``.
        loss_weight: overall weight, finite and ``>= 0``. Defaults to 1.0.
        warmup_epochs: an integer ``>= 0``. Defaults to 0.
        where (str, optional): the config path of the loss (e.g.
            ``'model.distiller.distill_losses.loss_dckd'``); when given,
            messages start with ``'<where>.<option> = <value>: '``.

    Raises:
        ConfigError: (a ``ValueError``) naming the option, the value and
            the accepted range. A negative weight is refused because it
            would push the student away from the teacher.
    """

    def fail(name: str, value: Any, text: str) -> None:
        lead = f'{where}.{name} = {value!r}: ' if where else ''
        raise ConfigError(lead + text)

    if not _is_number(tau) or not math.isfinite(tau) or not tau > 0:
        fail('tau', tau, f'tau must be a finite number > 0, got {tau!r}.')
    for name, value in (('alpha', alpha), ('beta', beta),
                        ('loss_weight', loss_weight)):
        if not _is_number(value) or not math.isfinite(value) or value < 0:
            fail(name, value,
                 f'{name} must be a finite number >= 0, got {value!r}: a '
                 'negative weight would push the student away from the '
                 'teacher.')
    if isinstance(warmup_epochs, bool) or \
            not isinstance(warmup_epochs, int) or warmup_epochs < 0:
        fail('warmup_epochs', warmup_epochs,
             f'warmup_epochs must be an integer >= 0, got '
             f'{warmup_epochs!r}.')
    if mask not in MASK_RULES:
        fail('mask', mask, f'unknown mask rule {mask!r}; choose one of '
             f'{sorted(MASK_RULES)}.')
    if parts not in PARTS:
        fail('parts', parts,
             f'unknown parts {parts!r}; choose one of {PARTS}.')
    if reduction not in REDUCTIONS:
        fail('reduction', reduction, f'unknown reduction {reduction!r}; '
             f'choose one of {REDUCTIONS}.')
    if backend not in BACKENDS:
        fail('backend', backend, f'unknown backend {backend!r}; choose '
             f'one of {BACKENDS}.')


def validate_logits_and_labels(preds_S: Tensor, preds_T: Tensor,
                               gt_labels: Tensor,
                               check_values: bool = True) -> Tensor:
    """Check logits and labels; return labels as an ``(N,)`` int64 tensor.

    Shapes and dtypes are checked always (host metadata, free). With
    ``check_values`` the label range and the logits' finiteness are checked
    too; that reads device values back to the host (a synchronisation on
    a GPU), so the training path checks them on the device instead
    (:func:`device_assert`) and calls this only to explain a failure.

    Args:
        preds_S (Tensor): student logits ``(N, C)``, ``C >= 2``.
        preds_T (Tensor): teacher logits ``(N, C)``.
        gt_labels (Tensor): class indices ``(N,)`` or ``(N, 1)``.
        check_values (bool): also check values. Defaults to True.

    Returns:
        Tensor: ``(N,)`` int64 labels.

    Raises:
        ConfigError: (a ``ValueError``) on any shape, dtype, range or
            finiteness problem, with a message that names it.
    """
    for name, t in (('preds_S', preds_S), ('preds_T', preds_T),
                    ('gt_labels', gt_labels)):
        if not isinstance(t, Tensor):
            raise ConfigError(f'{name} must be a torch.Tensor, got '
                              f'{type(t).__name__}.')
    if preds_S.dim() != 2:
        raise ConfigError('preds_S must be (N, C) logits, got shape '
                          f'{tuple(preds_S.shape)}.')
    if preds_S.shape != preds_T.shape:
        raise ConfigError(
            f'student logits {tuple(preds_S.shape)} and teacher logits '
            f'{tuple(preds_T.shape)} differ in shape: teacher and student '
            'must predict the same classes (check num_classes of both '
            'heads).')
    n, c = preds_S.shape
    if c < 2:
        raise ConfigError(f'DCKD needs at least 2 classes, got C = {c}.')
    if not preds_S.is_floating_point() or not preds_T.is_floating_point():
        raise ConfigError('logits must be floating point, got '
                          f'{preds_S.dtype} and {preds_T.dtype}.')
    if gt_labels.dim() == 2 and gt_labels.shape[1] == 1:
        gt_labels = gt_labels.reshape(-1)
    if gt_labels.dim() != 1 or gt_labels.shape[0] != n:
        raise ConfigError(
            f'gt_labels must be (N,) class indices with N = {n} (an (N, 1) '
            f'column is accepted), got shape {tuple(gt_labels.shape)}. '
            'One-hot or soft labels (e.g. from Mixup/CutMix) are not '
            'supported by DCKD.')
    if gt_labels.is_floating_point() or gt_labels.is_complex() or \
            gt_labels.dtype == torch.bool:
        raise ConfigError(
            'gt_labels must hold integer class indices, got dtype '
            f'{gt_labels.dtype}.')
    if not check_values:
        return gt_labels.long()
    if n > 0 and bool(((gt_labels < 0) | (gt_labels >= c)).any()):
        lo, hi = int(gt_labels.min()), int(gt_labels.max())
        raise ConfigError(
            f'gt_labels must lie in [0, {c}), got values in '
            f'[{lo}, {hi}]: the labels do not fit the {c} classes of '
            'the logits (check num_classes).')
    for name, t in (('preds_S', preds_S), ('preds_T', preds_T)):
        if not bool(torch.isfinite(t).all()):
            raise ConfigError(
                f'{name} contains NaN or Inf: training has diverged or '
                'the model emits invalid logits (lower the learning '
                'rate, check the input data, or use --amp with bf16).')
    return gt_labels.long()


def debug_checks_enabled(debug: Optional[bool] = None) -> bool:
    """Host-side value checks on (``debug=True`` or ``DCKD_MM_DEBUG=1``)."""
    if debug is not None:
        return bool(debug)
    return os.environ.get('DCKD_MM_DEBUG', '0') not in ('', '0')


def device_assert(ok: Tensor, message: str,
                  explain: Callable[[], None]) -> None:
    """Assert ``ok`` (a bool scalar tensor) without a host sync.

    On a GPU this is a device-side assert (``torch._assert_async``): the
    step is not stalled; a failure aborts the CUDA context with
    ``message`` (set ``DCKD_MM_DEBUG=1`` for a ``ConfigError`` instead). On
    the CPU the assert runs at once and ``explain`` turns its failure into
    the error that names the problem.
    """
    try:
        torch._assert_async(ok, message)
    except RuntimeError:
        explain()
        raise
