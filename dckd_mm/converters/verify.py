# Copyright (c) dckd_mm contributors. All rights reserved.
"""A conversion is exact or refused: the keys and shapes fit the target
model (:func:`check_exact`), a SimKD projector fits the student's feature
tap and the teacher's classifier (:func:`check_projector`), and the
converted model's logits equal the upstream computation on a random batch
(:func:`self_check`). Every refusal is a :class:`ConversionError`."""
from typing import Callable, Mapping

import torch
from torch import Tensor

from ..errors import ConversionError
from ..models.zoo import simkd_tap
from ..utils.checkpoint import describe_mismatch

__all__ = [
    'check_num_classes', 'check_exact', 'check_projector', 'self_check'
]

# Self-check tolerance, relative to the largest reference logit.
_RTOL = 1e-4


def check_num_classes(num_classes: int) -> None:
    """Refuse a class count that no classifier has.

    Raises:
        ConversionError: ``num_classes`` is not a positive integer.
    """
    if isinstance(num_classes, bool) or not isinstance(
            num_classes, int) or num_classes < 1:
        raise ConversionError(
            f'--num-classes {num_classes!r}: a classifier needs at least '
            'one class (100 for CIFAR-100, 1000 for ImageNet); nothing was '
            'written.')


def check_exact(converted: Mapping[str, Tensor],
                reference: Mapping[str, Tensor], what: str) -> None:
    """Refuse any missing/unexpected key or shape difference.

    Args:
        converted (Mapping[str, Tensor]): the converted state dict.
        reference (Mapping[str, Tensor]): the target model's state dict.
        what (str): the target, for the message.

    Raises:
        ConversionError: listing the mismatch.
    """
    detail = describe_mismatch(converted, reference)
    if detail:
        raise ConversionError(
            f'the source does not convert exactly to {what}: {detail}. '
            'Check --arch (and --teacher-arch); nothing was written.')


def check_projector(proj: Mapping[str, Tensor], arch: str,
                    teacher_cls: Mapping[str, Tensor], teacher_arch: str,
                    src: str) -> None:
    """Refuse a SimKD projector that does not fit the student's tap or the
    teacher's classifier, naming the mismatch.

    Args:
        proj (Mapping[str, Tensor]): SimKD's ``'proj'`` (``transfer.*``).
        arch (str): the student's zoo name.
        teacher_cls (Mapping[str, Tensor]): the converted teacher, with
            ``head.fc.weight``.
        teacher_arch (str): the teacher's zoo name.
        src (str): the student file, for the message.

    Raises:
        ConversionError: not SimKD's projector, or one that reads or gives
            other channels.
    """
    for key in ('transfer.0.weight', 'transfer.6.weight'):
        if key not in proj or proj[key].dim() != 4:
            raise ConversionError(
                f"{src}: 'proj' is not SimKD's projector (no 4-d {key}; "
                f'keys {sorted(proj)[:6]}); nothing was written.')
    tap = simkd_tap(arch)
    reads = proj['transfer.0.weight'].shape[1]
    if reads != tap.channels:
        raise ConversionError(
            f"{src}: the SimKD projector reads {reads} channels, but "
            f"SimKD's feature tap of {arch} ({tap.describe()}) has "
            f'{tap.channels}: the checkpoint was not trained on the map '
            'SimKD feeds its projector (or --arch is wrong); nothing was '
            'written.')
    gives = proj['transfer.6.weight'].shape[0]
    takes = teacher_cls['head.fc.weight'].shape[1]
    if gives != takes:
        raise ConversionError(
            f'{src}: the SimKD projector outputs {gives} channels, but the '
            f'classifier of teacher {teacher_arch} takes {takes} (check '
            '--teacher and --teacher-arch); nothing was written.')


@torch.no_grad()
def self_check(model: torch.nn.Module, reference: Callable[[Tensor], Tensor],
               what: str, batch: int = 4, seed: int = 0) -> float:
    """Compare ``model``'s logits with ``reference`` on a random batch.

    Args:
        model (nn.Module): the converted model, weights loaded.
        reference (Callable): ``(N, 3, 32, 32)`` images to the upstream
            logits.
        what (str): the model, for the message.
        batch (int): images in the random batch.
        seed (int): the batch's seed.

    Returns:
        float: the largest absolute logit difference.

    Raises:
        ConversionError: the difference exceeds ``1e-4`` of the largest
            reference logit (at least ``1e-4``).
    """
    x = torch.randn(batch, 3, 32, 32,
                    generator=torch.Generator().manual_seed(seed))
    model.eval()
    got = model(x, mode='tensor')
    expected = reference(x)
    if got.shape != expected.shape:
        raise ConversionError(
            f'logit self-check failed for {what}: the converted model '
            f'gives {tuple(got.shape)} logits, the upstream computation '
            f'{tuple(expected.shape)}; nothing was written.')
    diff = float((got - expected).abs().max())
    scale = max(1.0, float(expected.abs().max()))
    if not diff <= _RTOL * scale:  # also catches NaN
        raise ConversionError(
            f'logit self-check failed for {what}: the converted model and '
            'the upstream computation rebuilt from the source tensors '
            f'differ by {diff:.3g} (largest logit {scale:.3g}) on a random '
            'batch; nothing was written.')
    return diff
