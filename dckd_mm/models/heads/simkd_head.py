# Copyright (c) dckd_mm contributors. All rights reserved.
"""The SimKD student head: projector + pooling + reused teacher classifier.

In SimKD (and DCKD on top of it) the student's logits, in training and at
inference, are ``fc_T(GAP(projector(f_S)))``: the deployed student is its
backbone, the projector and a frozen copy of the teacher's classifier. This
head is that copy: a :class:`LinearClsHead` whose ``fc`` has the teacher's
shape (filled and frozen by :class:`SimKDDistill`) and whose input passes
through a :class:`SimKDProjector` first.

The projector reads the student's SimKD feature tap (SimKD's
``feat_s[-2]``), declared per model in :mod:`dckd_mm.models.zoo`: for a
ShuffleV2 or MobileNetV2 student that is the map before the final 1x1
conv, for a WRN student the map before the final BN + ReLU. Given
``student_arch``, the head takes the projector's input channels from there.
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from mmpretrain.models.heads import LinearClsHead
from mmpretrain.registry import MODELS
from mmrazor.registry import MODELS as RAZOR_MODELS
from torch import Tensor

from ...errors import ConfigError
from ..zoo import CIFAR_ZOO

__all__ = ['SimKDClsHead']


@MODELS.register_module()
class SimKDClsHead(LinearClsHead):
    """Head of a SimKD-style student.

    Args:
        num_classes (int): classes of the (teacher's) classifier.
        in_channels (int): teacher feature channels (the classifier's input).
        projector (dict): config of the projector, built in mmrazor's
            registry, e.g. ``dict(type='SimKDProjector', in_channels=256,
            out_channels=256)``; its ``out_channels`` must equal
            ``in_channels``.
        student_arch (str, optional): the student's CIFAR zoo name. Its
            SimKD feature tap sets the projector's ``in_channels`` (a
            different explicit value is an error); the backbone must
            output that tap (``zoo.simkd_backbone_cfg``).
        target_hw (tuple[int, int], optional): the teacher's feature size;
            a larger student map is average-pooled to it before the
            projector, as SimKD does. ``None`` (default): learnt from the
            teacher's first forward by :class:`SimKDDistill`.
        **kwargs: passed to :class:`LinearClsHead` (``loss``, ``topk``...).

    The size is kept as a Python tuple, so the forward never reads a
    tensor back to the host; the ``target_hw`` buffer mirrors it in the
    checkpoint (a loaded checkpoint sets the tuple once, at load time).
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 projector: dict,
                 student_arch: Optional[str] = None,
                 target_hw: Optional[Tuple[int, int]] = None,
                 **kwargs) -> None:
        super().__init__(num_classes, in_channels, **kwargs)
        projector = dict(projector)
        self.student_arch = student_arch
        if student_arch is not None:
            _fill_tap_channels(projector, student_arch)
        # The projector is an mmrazor connector: build it in that scope
        # even when the head is built under mmpretrain's default scope.
        projector.setdefault('_scope_', 'mmrazor')
        self.projector = RAZOR_MODELS.build(projector)
        out = getattr(self.projector, 'out_channels', in_channels)
        if out != in_channels:
            raise ConfigError(
                f'SimKDClsHead: the projector outputs {out} channels but the '
                f'reused teacher classifier takes {in_channels}: set the '
                "projector's out_channels to the teacher's feature channels.")
        self.register_buffer('target_hw', torch.zeros(2, dtype=torch.long))
        self._hw: Tuple[int, int] = (0, 0)
        if target_hw is not None:
            hw = tuple(target_hw)
            if len(hw) != 2 or not all(
                    isinstance(v, int) and v > 0 for v in hw):
                raise ConfigError('SimKDClsHead: target_hw must be two '
                                  f'positive integers, got {target_hw!r}.')
            self.set_target_hw(hw)

    def project(self, feats: Tuple[Tensor, ...]) -> Tensor:
        """Projected student feature map.

        Args:
            feats (tuple[Tensor]): backbone outputs; the last is the
                student's SimKD tap ``(N, C_S, H, W)``.

        Returns:
            Tensor: ``(N, C_T, h, w)``, with ``(h, w)`` the student's size,
            average-pooled to ``target_hw`` where that is smaller.
        """
        x = feats[-1]
        th, tw = self._hw
        if th > 0 and (x.shape[-2] > th or x.shape[-1] > tw):
            x = F.adaptive_avg_pool2d(x, (min(th, x.shape[-2]),
                                          min(tw, x.shape[-1])))
        return self.projector(x)

    def pre_logits(self, feats: Tuple[Tensor, ...]) -> Tensor:
        """Pooled projection ``(N, C_T)``, the teacher classifier's
        input."""
        return self.project(feats).mean(dim=(2, 3))

    def set_target_hw(self, hw: Optional[Tuple[int, int]]) -> None:
        """Record the teacher's feature size (host-side; the buffer is
        written only when the size changes)."""
        if hw is None:
            return
        hw = (int(hw[0]), int(hw[1]))
        if hw != self._hw:
            self._hw = hw
            self.target_hw.copy_(torch.as_tensor(hw, dtype=torch.long))

    def _load_from_state_dict(self, state_dict: dict, prefix: str,
                              *args, **kwargs) -> None:
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        hw = state_dict.get(prefix + 'target_hw')
        if isinstance(hw, Tensor) and hw.numel() == 2:
            self._hw = tuple(int(v) for v in hw.tolist())  # once, at load


def _fill_tap_channels(projector: dict, student_arch: str) -> None:
    """Set the projector's ``in_channels`` from the zoo's SimKD tap."""
    if student_arch not in CIFAR_ZOO:
        raise ConfigError(f'SimKDClsHead: unknown student_arch '
                          f'{student_arch!r}; choose one of '
                          f'{sorted(CIFAR_ZOO)}.')
    tap = CIFAR_ZOO[student_arch].simkd_tap
    given = projector.setdefault('in_channels', tap.channels)
    if given != tap.channels:
        raise ConfigError(
            f'SimKDClsHead: the projector reads {given} channels but the '
            f'SimKD feature tap of {student_arch} ({tap.describe()}) has '
            f'{tap.channels}; set projector.in_channels={tap.channels} (or '
            'leave it out) and the backbone out_indices to '
            f'({tap.stage}, ).')
