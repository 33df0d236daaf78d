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

The projector is any module of mmrazor's ``MODELS`` that maps the
student's ``(N, C_S, H, W)`` map to an ``(N, C_T, h, w)`` map: SimKD's
:class:`~dckd_mm.models.connectors.SimKDProjector` (the default configs),
or an mmrazor connector such as ``ConvModuleConnector``, FactorTransfer's
``Translator`` or ``TorchNNConnector(Conv2d)``; a list of configs chains
them (``nn.Sequential``, as ``ConfigurableDistiller`` builds a list of
connectors). It stays inside the student, so training, ``predict`` and
the exported student all run through it. (It cannot be one of
``ConfigurableDistiller``'s ``connectors``: those live outside the
student and run only on recorded data inside the loss, after the
student's forward, so the student's logits, which SimKD computes from the
projected feature, could not use them; docs/method.md.)
"""
import inspect
from typing import List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.model import Sequential
from mmengine.registry import DefaultScope
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
        projector (dict | list[dict]): config of the projector, built in
            mmrazor's registry, e.g. ``dict(type='SimKDProjector',
            in_channels=256, out_channels=256)`` or any 4-D connector
            (``dict(type='ConvModuleConnector', in_channel=64,
            out_channel=256, norm_cfg=dict(type='BN'))``); a list is
            chained. Its output channels must equal ``in_channels``
            (checked at build where the module states ``out_channels``,
            and on every forward).
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
                 projector: Union[dict, List[dict]],
                 student_arch: Optional[str] = None,
                 target_hw: Optional[Tuple[int, int]] = None,
                 **kwargs) -> None:
        super().__init__(num_classes, in_channels, **kwargs)
        self.student_arch = student_arch
        self.projector = _build_projector(projector, student_arch)
        out = getattr(self.projector, 'out_channels', in_channels)
        if out != in_channels:
            raise ConfigError(_channels_message(out, in_channels))
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
        out = self.projector(x)
        if not isinstance(out, Tensor) or out.dim() != 4 or \
                out.shape[1] != self.in_channels:
            got = tuple(out.shape) if isinstance(out, Tensor) else type(out)
            raise ConfigError(
                f'SimKDClsHead: the projector ({type(self.projector).__name__}'
                f') turned the student map {tuple(x.shape)} into {got}; the '
                f'head needs an (N, {self.in_channels}, h, w) map, pooled '
                'into the reused teacher classifier: make the projector '
                "output 4-D maps with the teacher's feature channels.")
        return out

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


def _build_projector(cfg: Union[dict, List[dict]],
                     student_arch: Optional[str]) -> torch.nn.Module:
    """Build one projector config, or a chain of them, in mmrazor's scope
    (also when the head is built under mmpretrain's default scope)."""
    cfgs = [cfg] if isinstance(cfg, dict) else list(cfg) if isinstance(
        cfg, (list, tuple)) else None
    if not cfgs or not all(isinstance(c, dict) for c in cfgs):
        raise ConfigError('SimKDClsHead: projector must be a module config '
                          f'(a dict) or a non-empty list of them, got '
                          f'{cfg!r}.')
    cfgs = [dict(c) for c in cfgs]
    if student_arch is not None:
        _fill_tap_channels(cfgs[0], student_arch)
    modules = []
    for c in cfgs:
        c.setdefault('_scope_', 'mmrazor')
        modules.append(RAZOR_MODELS.build(c))
    if len(modules) == 1:
        return modules[0]
    chain = Sequential(*modules)
    for m in reversed(modules):  # the chain's output channels, if stated
        if hasattr(m, 'out_channels'):
            chain.out_channels = m.out_channels
            break
    return chain


def _channels_message(out: int, in_channels: int) -> str:
    return (f'SimKDClsHead: the projector outputs {out} channels but the '
            f'reused teacher classifier takes {in_channels}: set the '
            "projector's out_channels (a connector's out_channel) to the "
            "teacher's feature channels.")


def _fill_tap_channels(projector: dict, student_arch: str) -> None:
    """Set the projector's input channels (``in_channels``, or mmrazor
    connectors' ``in_channel``) from the zoo's SimKD tap."""
    if student_arch not in CIFAR_ZOO:
        raise ConfigError(f'SimKDClsHead: unknown student_arch '
                          f'{student_arch!r}; choose one of '
                          f'{sorted(CIFAR_ZOO)}.')
    tap = CIFAR_ZOO[student_arch].simkd_tap
    key = _in_channels_key(projector)
    if key is None:
        return  # a projector without input channels (a functional one)
    given = projector.setdefault(key, tap.channels)
    if given != tap.channels:
        raise ConfigError(
            f'SimKDClsHead: the projector reads {given} channels but the '
            f'SimKD feature tap of {student_arch} ({tap.describe()}) has '
            f'{tap.channels}; set projector.{key}={tap.channels} (or '
            'leave it out) and the backbone out_indices to '
            f'({tap.stage}, ).')


def _in_channels_key(projector: dict) -> Optional[str]:
    """The projector's name for its input channels, from its signature."""
    for key in ('in_channels', 'in_channel'):
        if key in projector:
            return key
    kind = projector.get('type')
    with DefaultScope.overwrite_default_scope('mmrazor'):
        cls = RAZOR_MODELS.get(kind) if isinstance(kind, str) else kind
    if not isinstance(cls, type):
        return 'in_channels'  # the build reports the unknown type
    params = inspect.signature(cls.__init__).parameters
    for key in ('in_channels', 'in_channel'):
        if key in params:
            return key
    return None
