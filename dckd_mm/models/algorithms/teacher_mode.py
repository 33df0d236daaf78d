# Copyright (c) dckd_mm contributors. All rights reserved.
"""A frozen teacher must give the same outputs for the same input.

mmrazor's ``SingleTeacherDistill.train()`` puts only the teacher's
BatchNorm layers in eval mode (``teacher_norm_eval``). A teacher built
with dropout or stochastic depth (a ViT/DeiT/Swin config with
``drop_path_rate=0.1``, a ``StackedLinearClsHead`` with ``dropout_rate``)
then keeps them on while it distils: its logits and features change from
call to call, and every distillation target is noisy, silently.
``SimKDDistill`` keeps the whole teacher in eval mode and is not
affected; ``RoIDCKDDistill`` follows mmrazor's rule and is checked like
any other.

:func:`stochastic_modules` finds such modules after the algorithm's own
``train()``; :func:`check_frozen_teacher_mode` refuses them, with the fix.
"""
from typing import List

import torch.nn as nn
from torch.nn.modules.dropout import _DropoutNd

from ...errors import ConfigError

__all__ = ['stochastic_modules', 'check_frozen_teacher_mode']


def stochastic_modules(module: nn.Module) -> List[str]:
    """The submodules of ``module`` that draw random numbers in the mode
    they are in now: dropout with ``p > 0`` (every ``torch.nn`` dropout
    and its subclasses, mmcv's ``Dropout`` included) and stochastic depth
    with ``drop_prob > 0`` (mmcv's and timm's ``DropPath``), in training
    mode.

    Args:
        module (nn.Module): e.g. a distillation model's teacher.

    Returns:
        list[str]: ``'name (Type, rate)'`` for each, in module order.
    """
    found = []
    for name, m in module.named_modules():
        if not m.training:
            continue
        if isinstance(m, _DropoutNd):
            rate = ('p', float(m.p))
        elif isinstance(getattr(m, 'drop_prob', None), (int, float)):
            rate = ('drop_prob', float(m.drop_prob))
        else:
            continue
        if rate[1] > 0:
            found.append(f'{name or "<root>"} ({type(m).__name__}, '
                         f'{rate[0]}={rate[1]:g})')
    return found


def check_frozen_teacher_mode(model: nn.Module) -> None:
    """Refuse a distillation model whose frozen teacher would run dropout
    or stochastic depth while the model trains.

    The model is put in training mode (its own ``train()``, so what the
    algorithm keeps in eval mode is respected), inspected, and put back
    in the mode it was in. A model without a ``teacher``, or with
    ``teacher_trainable=True`` (a teacher trained jointly, whose dropout
    is meant), passes.

    Args:
        model (nn.Module): the built model (unwrapped from DDP).

    Raises:
        ConfigError: the frozen teacher has active dropout or stochastic
            depth in training mode; the message names the modules and the
            fixes.
    """
    teacher = getattr(model, 'teacher', None)
    if not isinstance(teacher, nn.Module) or getattr(
            model, 'teacher_trainable', False):
        return
    was = model.training
    model.train(True)
    try:
        found = stochastic_modules(teacher)
    finally:
        model.train(was)
    if not found:
        return
    shown = ', '.join(found[:3]) + (
        f' and {len(found) - 3} more' if len(found) > 3 else '')
    raise ConfigError(
        f'model.teacher: {len(found)} module(s) would run randomly while '
        f'the frozen teacher distils: {shown}. {type(model).__name__} puts '
        'only the teacher\'s BatchNorm layers in eval mode, so its dropout '
        'and stochastic depth stay on and its outputs change from call to '
        'call. Build the teacher with zero rates (e.g. --cfg-options '
        'model.teacher.backbone.drop_path_rate=0 '
        'model.teacher.backbone.drop_rate=0, or the head\'s dropout_rate=0; '
        'that changes no weight), or use SimKDDistill, which keeps the '
        'whole teacher in eval mode; for a teacher trained jointly set '
        'model.teacher_trainable=True.')
