# Copyright (c) dckd_mm contributors. All rights reserved.
"""SimKD's projector (Chen et al., CVPR 2022, "Knowledge distillation with
the reused teacher classifier"), ``models/util.py: class SimKD``.

A bottleneck ``1x1 -> 3x3 -> 1x1`` convolution stack, each followed by BN
and ReLU, mapping ``in_channels`` (student) to ``out_channels`` (teacher)
through ``out_channels // factor``. The module is named ``transfer`` (an
``nn.Sequential`` with SimKD's indices) so that SimKD's saved ``'proj'``
state dicts load by a plain prefix remap.
"""
from typing import Optional

import torch.nn as nn
from mmrazor.models.architectures.connectors.base_connector import \
    BaseConnector
from mmrazor.registry import MODELS
from torch import Tensor

from ...errors import ConfigError

__all__ = ['SimKDProjector']


@MODELS.register_module()
class SimKDProjector(BaseConnector):
    """SimKD bottleneck projector, an mmrazor connector.

    Args:
        in_channels (int): student feature channels.
        out_channels (int): teacher feature channels.
        factor (int): bottleneck reduction. Defaults to 2 (SimKD's).
        out_act (bool): end with ReLU, as SimKD does (a CNN teacher's last
            map is post-ReLU, non-negative). ``False`` ends with the last
            BN: for a teacher feature with negative entries (a
            transformer's normalised cls token or map), which a ReLU
            output could never reach. Defaults to True. The weights'
            layout is the same either way.
        init_cfg (dict, optional): mmengine init config.

    Shapes:
        ``(N, in_channels, H, W) -> (N, out_channels, H, W)``.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 factor: int = 2,
                 out_act: bool = True,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        for name, value in (('in_channels', in_channels),
                            ('out_channels', out_channels),
                            ('factor', factor)):
            if isinstance(value, bool) or not isinstance(value, int) or \
                    value <= 0:
                raise ConfigError(f'SimKDProjector: {name} must be a positive '
                                  f'integer, got {value!r}.')
        if not isinstance(out_act, bool):
            raise ConfigError(f'SimKDProjector: out_act must be True or '
                              f'False, got {out_act!r}.')
        if out_channels // factor == 0:
            raise ConfigError(f'SimKDProjector: factor {factor} leaves no '
                              f'bottleneck channels for out_channels '
                              f'{out_channels}.')
        mid = out_channels // factor
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.out_act = out_act
        layers = [
            nn.Conv2d(in_channels, mid, 1, bias=False),
            nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, mid, 3, padding=1, bias=False),
            nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
        ]
        if out_act:
            layers.append(nn.ReLU(inplace=True))
        self.transfer = nn.Sequential(*layers)

    def forward_train(self, feature: Tensor) -> Tensor:
        """``(N, in_channels, H, W) -> (N, out_channels, H, W)``."""
        if feature.dim() != 4 or feature.shape[1] != self.in_channels:
            raise ConfigError(
                f'SimKDProjector expects (N, {self.in_channels}, H, W) '
                f'student features, got {tuple(feature.shape)}: set '
                "in_channels to the channels of the student's last stage, "
                "its SimKD feature tap (dckd_mm.models.zoo.simkd_tap).")
        return self.transfer(feature)
