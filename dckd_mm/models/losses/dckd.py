# Copyright (c) dckd_mm contributors. All rights reserved.
"""Registered wrapper of :func:`dckd_loss` for mmrazor's distillers."""
import math
from typing import Union

import torch
import torch.nn as nn
from mmengine.logging import MessageHub
from mmrazor.registry import MODELS
from torch import Tensor

from .dckd_loss import _check_options, dckd_loss

__all__ = ['DCKDLoss', 'warmup_factor']


def warmup_factor(warmup_epochs: int) -> float:
    """Linear warm-up ``min((epoch + 1) / warmup_epochs, 1)``.

    ``epoch`` is the 0-based epoch that mmengine's runner stores in the
    message hub (``'epoch'``), so the first epoch gets ``1 / warmup_epochs``
    (as DKD's ``min(epoch / warmup, 1)`` with 1-based epochs). 1.0 when
    ``warmup_epochs`` is 0 or no runner is active.
    """
    if warmup_epochs <= 0:
        return 1.0
    hub = MessageHub.get_current_instance()
    epoch = hub.get_info('epoch')
    if epoch is None:
        return 1.0
    return min((int(epoch) + 1) / warmup_epochs, 1.0)


@MODELS.register_module()
class DCKDLoss(nn.Module):
    """Decoupled Classifier Knowledge Distillation loss (PLOS ONE 2025).

    ``loss_weight * w(epoch) * (alpha * SKD + beta * PKD)``; the math and
    the project's reading of the paper are in :func:`dckd_loss`.

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
    """

    def __init__(self,
                 tau: float = 4.0,
                 alpha: float = 1.0,
                 beta: float = 0.5,
                 mask: str = 'as_good_as_teacher',
                 parts: str = 'both',
                 reduction: str = 'batchmean',
                 loss_weight: float = 1.0,
                 warmup_epochs: int = 0) -> None:
        super().__init__()
        _check_options(tau, mask, parts, reduction)
        for name, value in (('alpha', alpha), ('beta', beta),
                            ('loss_weight', loss_weight)):
            if isinstance(value, bool) or \
                    not isinstance(value, (int, float)) or \
                    not math.isfinite(value) or value < 0:
                raise ValueError(f'{name} must be a finite number >= 0, got '
                                 f'{value!r}: a negative weight would '
                                 'push the student away from the teacher.')
        if isinstance(warmup_epochs, bool) or \
                not isinstance(warmup_epochs, int) or warmup_epochs < 0:
            raise ValueError('warmup_epochs must be an integer >= 0, got '
                             f'{warmup_epochs!r}.')
        self.tau = float(tau)
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.mask = mask
        self.parts = parts
        self.reduction = reduction
        self.loss_weight = float(loss_weight)
        self.warmup_epochs = warmup_epochs

    def forward(self, preds_S: Tensor, preds_T: Tensor,
                gt_labels: Tensor) -> Tensor:
        """Args:
            preds_S (Tensor): student logits ``(N, C)``.
            preds_T (Tensor): teacher logits ``(N, C)``.
            gt_labels (Tensor): labels ``(N,)`` or ``(N, 1)``.

        Returns:
            Tensor: scalar, or ``(N,)`` for ``reduction='none'``.
        """
        # labelled for profilers (tools/analysis_tools/compare.py measures the
        # loss's share of a training step); negligible cost otherwise
        with torch.profiler.record_function('dckd_loss'):
            loss = dckd_loss(
                preds_S,
                preds_T,
                gt_labels,
                tau=self.tau,
                alpha=self.alpha,
                beta=self.beta,
                mask=self.mask,
                parts=self.parts,
                reduction=self.reduction)
        weight: Union[float, int] = self.loss_weight * warmup_factor(
            self.warmup_epochs)
        return weight * loss

    def extra_repr(self) -> str:
        return (f'tau={self.tau}, alpha={self.alpha}, beta={self.beta}, '
                f'mask={self.mask!r}, parts={self.parts!r}, '
                f'reduction={self.reduction!r}, '
                f'loss_weight={self.loss_weight}, '
                f'warmup_epochs={self.warmup_epochs}')
