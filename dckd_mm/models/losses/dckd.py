# Copyright (c) dckd_mm contributors. All rights reserved.
"""Decoupled Classifier Knowledge Distillation (DCKD) loss: the function
:func:`dckd_loss` and the module :class:`DCKDLoss` side by side.

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
gradient. The other rules are rows of
:data:`~dckd_mm.models.losses.mask_rules.MASK_RULES`.

The package is split by concern: the mask rules (:mod:`.mask_rules`), the
option and input checks (:mod:`.validation`), the PyTorch path
(:mod:`.torch_parts`), the fused Triton kernel (:mod:`.triton_kernel`) and
the choice between them with the kernel's self-check (:mod:`.backend`).
This module imports torch (and, lazily, Triton) only: ``DCKDLoss`` is
registered into mmrazor's ``MODELS`` by the package's ``__init__``, and
only ``warmup_epochs > 0`` needs mmengine (at the call).
"""
from typing import Optional, Tuple

import torch
import torch.nn as nn
from torch import Tensor

from ...errors import UnsupportedHostError
from . import backend as _backend
from . import triton_kernel
from .torch_parts import Combine
from .validation import (check_dckd_options, debug_checks_enabled,
                         device_assert, validate_logits_and_labels)

__all__ = ['dckd_parts', 'dckd_loss', 'DCKDLoss', 'warmup_factor']


def _run(preds_S: Tensor, preds_T: Tensor, gt_labels: Tensor, tau: float,
         mask: str, backend: str, debug: Optional[bool],
         combine: Optional[Combine]):
    """Check the inputs, compute on the chosen backend, check the result.

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

    check = not host and n
    # The label range: a device-side assert where the kernel may run. The
    # PyTorch path on the CPU needs none: its gather checks the indices at
    # once, and its error is explained below.
    if check and (preds_S.is_cuda or triton_kernel.interpreting()):
        device_assert(((labels >= 0) & (labels < c)).all(),
                      f'DCKD: gt_labels outside [0, {c})', explain)
    try:
        out = _backend.compute(preds_S, preds_T, labels, float(tau), mask,
                               backend, combine)
    except RuntimeError:
        if not preds_S.is_cuda:  # an index error: say which labels
            validate_logits_and_labels(preds_S, preds_T, labels, True)
        raise
    if check:
        ok = torch.isfinite(out[0] + out[1] if combine is None else out)
        device_assert(ok.all() if ok.dim() else ok,
                      'DCKD: NaN or Inf loss (the logits are not finite)',
                      explain)
    return out


def dckd_parts(preds_S: Tensor,
               preds_T: Tensor,
               gt_labels: Tensor,
               *,
               tau: float = 4.0,
               mask: str = 'as_good_as_teacher',
               backend: str = 'auto',
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
        backend (str): ``'auto'`` (default), ``'torch'`` or ``'triton'``
            (see :mod:`dckd_mm.models.losses.backend`).
        debug (bool, optional): check label range and finiteness on the
            host before computing (``ConfigError`` on every device, at the
            cost of host syncs). ``None`` (default) reads
            ``DCKD_MM_DEBUG``; off, the checks run on the device.

    Returns:
        tuple[Tensor, Tensor]: ``(skd, pkd)``, each of shape ``(N,)``,
        float32 (float64 for float64 input); ``skd`` includes the target
        factor ``m``.

    Raises:
        ConfigError: bad options or inputs (see :func:`dckd_loss`).
        UnsupportedHostError: ``backend='triton'`` where it cannot run.
    """
    check_dckd_options(tau=tau, mask=mask, backend=backend)
    return _run(preds_S, preds_T, gt_labels, tau, mask, backend, debug,
                None)


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
              backend: str = 'auto',
              debug: Optional[bool] = None) -> Tensor:
    """Decoupled Classifier Knowledge Distillation loss.

    ``DCKD = alpha * SKD + beta * PKD`` (see the module docstring and
    ``docs/method.md``). Paper defaults: ``tau=4``, ``alpha=1``,
    ``beta=0.5``. With ``backend='auto'`` one fused Triton kernel per call
    computes the masks, both parts and the gradient on CUDA (float32/16/
    bf16, ``C <= 8192``; checked against the PyTorch path at first use,
    :mod:`dckd_mm.models.losses.backend`); elsewhere the PyTorch path
    runs. Neither reads a value back to the host after the first call.

    Args:
        preds_S (Tensor): student logits, shape ``(N, C)``.
        preds_T (Tensor): teacher logits, shape ``(N, C)``. No gradient
            reaches them.
        gt_labels (Tensor): integer class indices in ``[0, C)``, shape
            ``(N,)`` (an ``(N, 1)`` column is accepted).
        tau (float): temperature, ``> 0``. Defaults to 4.0.
        alpha (float): weight of SKD (target vs. rest), ``>= 0``. Defaults
            to 1.0.
        beta (float): weight of PKD (among the rest), ``>= 0``. Defaults to
            0.5.
        mask (str): ``'as_good_as_teacher'`` (default),
            ``'student_ge_teacher'`` (the first reading), ``'none'`` (DKD)
            or ``'student_correct'``.
        parts (str): ``'both'`` (default), ``'skd'`` or ``'pkd'``; the
            ablation switch. The chosen part keeps its weight.
        reduction (str): ``'batchmean'`` (default; sum over samples / N),
            ``'sum'`` or ``'none'`` (per-sample ``(N,)`` vector).
        backend (str): ``'auto'`` (default), ``'torch'`` or ``'triton'``.
        debug (bool, optional): host-side value checks (see
            :func:`dckd_parts`). Defaults to ``DCKD_MM_DEBUG`` (off).

    Returns:
        Tensor: scalar loss (float32, or float64 for float64 input), or
        ``(N,)`` for ``reduction='none'``.

    Raises:
        ConfigError: (a ``ValueError``) bad shapes, labels, ``tau``,
            weights, mask rule, parts, reduction or backend; NaN/Inf
            logits (on a GPU only with ``debug``: there the device-side
            assert stops the run instead).
        UnsupportedHostError: ``backend='triton'`` where it cannot run.
    """
    check_dckd_options(tau=tau, alpha=alpha, beta=beta, mask=mask,
                       parts=parts, reduction=reduction, backend=backend)
    return _run(preds_S, preds_T, gt_labels, tau, mask, backend, debug,
                _combine(alpha, beta, parts, reduction, 1.0))


def _combine(alpha: float, beta: float, parts: str, reduction: str,
             weight: float) -> Combine:
    """The part weights, with ``parts`` and an overall ``weight`` folded
    in (no extra autograd node)."""
    w_skd = float(alpha) * weight if parts in ('both', 'skd') else 0.0
    w_pkd = float(beta) * weight if parts in ('both', 'pkd') else 0.0
    return Combine(w_skd, w_pkd, reduction)


def warmup_factor(warmup_epochs: int) -> float:
    """Linear warm-up ``min((epoch + 1) / warmup_epochs, 1)``.

    ``epoch`` is the 0-based epoch that mmengine's runner stores in the
    message hub (``'epoch'``), so the first epoch gets ``1 / warmup_epochs``
    (as DKD's ``min(epoch / warmup, 1)`` with 1-based epochs). 1.0 when
    ``warmup_epochs`` is 0 or no runner is active. mmengine is imported
    only when ``warmup_epochs > 0``.
    """
    if warmup_epochs <= 0:
        return 1.0
    from mmengine.logging import MessageHub
    hub = MessageHub.get_current_instance()
    epoch = hub.get_info('epoch')
    if epoch is None:
        return 1.0
    return min((int(epoch) + 1) / warmup_epochs, 1.0)


class DCKDLoss(nn.Module):
    """Decoupled Classifier Knowledge Distillation loss (PLOS ONE 2025).

    ``loss_weight * w(epoch) * (alpha * SKD + beta * PKD)``; the math and
    the project's reading of the paper are in :func:`dckd_loss`. Registered
    in mmrazor's ``MODELS`` as ``'DCKDLoss'`` (by
    ``dckd_mm.models.losses``).

    Args:
        tau (float): temperature. Defaults to 4.0.
        alpha (float): SKD weight. Defaults to 1.0.
        beta (float): PKD weight. Defaults to 0.5.
        mask (str): acquired-set rule: ``'as_good_as_teacher'`` (default),
            ``'student_ge_teacher'``, ``'none'`` (= DKD) or
            ``'student_correct'`` (see ``docs/method.md``).
        parts (str): ``'both'`` (default), ``'skd'`` or ``'pkd'``.
        reduction (str): ``'batchmean'`` (default), ``'sum'``, ``'none'``.
        loss_weight (float): overall weight. Defaults to 1.0.
        warmup_epochs (int): linear warm-up of the weight over this many
            epochs, read from mmengine's message hub; 0 (default) is off.
        backend (str): ``'auto'`` (default), ``'torch'`` or ``'triton'``
            (see :mod:`dckd_mm.models.losses.backend`).

    Raises:
        ConfigError: any option out of range (:func:`check_dckd_options`).
        UnsupportedHostError: ``backend='triton'`` without Triton.
    """

    def __init__(self,
                 tau: float = 4.0,
                 alpha: float = 1.0,
                 beta: float = 0.5,
                 mask: str = 'as_good_as_teacher',
                 parts: str = 'both',
                 reduction: str = 'batchmean',
                 loss_weight: float = 1.0,
                 warmup_epochs: int = 0,
                 backend: str = 'auto') -> None:
        super().__init__()
        check_dckd_options(tau=tau, alpha=alpha, beta=beta, mask=mask,
                           parts=parts, reduction=reduction, backend=backend,
                           loss_weight=loss_weight,
                           warmup_epochs=warmup_epochs)
        if backend == 'triton' and not triton_kernel.HAVE_TRITON:
            raise UnsupportedHostError(
                "DCKDLoss(backend='triton') needs Triton, which is not "
                "installed: use backend='auto' or 'torch'.")
        self.tau = float(tau)
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.mask = mask
        self.parts = parts
        self.reduction = reduction
        self.loss_weight = float(loss_weight)
        self.warmup_epochs = warmup_epochs
        self.backend = backend

    def forward(self, preds_S: Tensor, preds_T: Tensor,
                gt_labels: Tensor) -> Tensor:
        """Args:
            preds_S (Tensor): student logits ``(N, C)``.
            preds_T (Tensor): teacher logits ``(N, C)``.
            gt_labels (Tensor): labels ``(N,)`` or ``(N, 1)``.

        Returns:
            Tensor: scalar, or ``(N,)`` for ``reduction='none'``.
        """
        weight = self.loss_weight * warmup_factor(self.warmup_epochs)
        combine = _combine(self.alpha, self.beta, self.parts, self.reduction,
                           weight)
        args = (preds_S, preds_T, gt_labels, self.tau, self.mask,
                self.backend, None, combine)
        if torch.autograd._profiler_enabled():
            # labelled for profilers (tools/analysis_tools/compare.py
            # measures the loss's share of a training step); the label
            # costs ~10 us a call on the CPU, so only when one is on
            with torch.profiler.record_function('dckd_loss'):
                return _run(*args)
        return _run(*args)

    def extra_repr(self) -> str:
        return (f'tau={self.tau}, alpha={self.alpha}, beta={self.beta}, '
                f'mask={self.mask!r}, parts={self.parts!r}, '
                f'reduction={self.reduction!r}, '
                f'loss_weight={self.loss_weight}, '
                f'warmup_epochs={self.warmup_epochs}, '
                f'backend={self.backend!r}')
