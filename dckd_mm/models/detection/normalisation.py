# Copyright (c) dckd_mm contributors. All rights reserved.
"""The teacher sees the batch normalised as its own ``data_preprocessor``
would.

The student's data preprocessor makes the batch (resize, flip, padding,
batch augments); a teacher trained with another colour normalisation (a
caffe-style BGR, std-1 teacher next to a torchvision-style student) would
get inputs it never saw. :func:`check_preprocessors` finds out at build
time whether the two differ; :func:`renormalise` turns the student's batch
into the teacher's.
"""
from typing import NamedTuple, Optional, Sequence

import torch
from torch import Tensor, nn

from ...errors import ConfigError

__all__ = [
    'Normalisation', 'normalisation', 'check_preprocessors', 'renormalise'
]


class Normalisation(NamedTuple):
    """How a data preprocessor maps a loaded (BGR) image to model input:
    ``(channels[order] - mean) / std``, padding filled with ``pad_value``
    after normalisation."""
    mean: Tensor
    std: Tensor
    flip: bool
    pad_value: float
    pad_size_divisor: int


def normalisation(preprocessor: nn.Module) -> Normalisation:
    """The :class:`Normalisation` of an mmengine ``ImgDataPreprocessor``
    (mmdet's ``DetDataPreprocessor`` included)."""
    mean = getattr(preprocessor, 'mean', None)
    std = getattr(preprocessor, 'std', None)
    if not getattr(preprocessor, '_enable_normalize', False) or mean is None:
        mean, std = torch.zeros(3), torch.ones(3)
    return Normalisation(
        mean=mean.detach().flatten().float().cpu(),
        std=std.detach().flatten().float().cpu(),
        flip=bool(getattr(preprocessor, '_channel_conversion', False)),
        pad_value=float(getattr(preprocessor, 'pad_value', 0)),
        pad_size_divisor=int(getattr(preprocessor, 'pad_size_divisor', 1)))


def check_preprocessors(student: nn.Module,
                        teacher: nn.Module) -> Optional[Normalisation]:
    """The teacher's :class:`Normalisation` when it differs from the
    student's, ``None`` when the student's batch suits the teacher as is.

    The teacher sees the student's geometry (resize, flip, padding, batch
    augments) with its own colour normalisation.

    Args:
        student, teacher (nn.Module): the data preprocessors of the
            distiller (the student's) and of the teacher.

    Raises:
        TypeError: a preprocessor that is not an image preprocessor.
        ConfigError: the student's padded batch is not a multiple of the
            teacher's ``pad_size_divisor``.
    """
    from mmengine.model import ImgDataPreprocessor
    for what, pre in (('student', student), ('teacher', teacher)):
        if not isinstance(pre, ImgDataPreprocessor):
            raise TypeError(
                f'the {what} detector\'s data_preprocessor is a '
                f'{type(pre).__name__}; RoIDCKDDistill needs image '
                'preprocessors (DetDataPreprocessor) to feed the teacher '
                'its own normalisation.')
    s, t = normalisation(student), normalisation(teacher)
    if s.pad_size_divisor % t.pad_size_divisor:
        raise ConfigError(
            f'the student pads batches to multiples of {s.pad_size_divisor}'
            f' and the teacher needs multiples of {t.pad_size_divisor}: '
            'give the student a pad_size_divisor that the teacher\'s '
            'divides.')
    if (s.flip == t.flip and torch.equal(s.mean, t.mean)
            and torch.equal(s.std, t.std)
            and (s.pad_value == t.pad_value)):
        return None
    return t


def renormalise(inputs: Tensor, img_shapes: Sequence[Sequence[int]],
                src: Normalisation, dst: Normalisation) -> Tensor:
    """Turn a batch normalised by ``src`` into the batch ``dst`` gives.

    Args:
        inputs (Tensor): ``(N, 3, H, W)`` padded batch normalised by
            ``src``.
        img_shapes (Sequence[Sequence[int]]): the ``(h, w)`` of each
            image before padding (mmdet's ``img_shape``); everything right
            of ``w`` or below ``h`` is padding and becomes
            ``dst.pad_value``.
        src, dst (Normalisation): the student's and the teacher's.

    Returns:
        Tensor: ``(N, 3, H, W)``, equal (to float rounding) to the
        teacher's own preprocessor applied to the same augmented images.
    """
    shape = (1, -1, 1, 1)
    dev = inputs.device
    raw = inputs.float() * src.std.to(dev).view(shape) + src.mean.to(
        dev).view(shape)
    if src.flip != dst.flip:
        raw = raw.flip(1)
    out = (raw - dst.mean.to(dev).view(shape)) / dst.std.to(dev).view(shape)
    for i, (h, w) in enumerate(img_shapes):
        out[i, :, int(h):, :] = dst.pad_value
        out[i, :, :, int(w):] = dst.pad_value
    return out.to(inputs.dtype)
