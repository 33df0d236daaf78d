# Copyright (c) dckd_mm contributors. All rights reserved.
"""RepDistiller's CIFAR MobileNetV2 (``models/mobilenetv2.py``,
``mobile_half``: expansion 6, width 0.5)."""
from typing import Optional, Sequence

import torch.nn as nn
from mmpretrain.registry import MODELS
from torch import Tensor

from ._base import CifarBackbone

__all__ = ['CifarMobileNetV2']

# t, c, n, s
_SETTING = [[1, 16, 1, 1], ['T', 24, 2, 1], ['T', 32, 3, 2], ['T', 64, 4, 2],
            ['T', 96, 3, 1], ['T', 160, 3, 2], ['T', 320, 1, 1]]


class InvertedResidual(nn.Module):

    def __init__(self, inp: int, oup: int, stride: int,
                 expand_ratio: int) -> None:
        super().__init__()
        hid = inp * expand_ratio
        self.use_res_connect = stride == 1 and inp == oup
        self.conv = nn.Sequential(
            nn.Conv2d(inp, hid, 1, 1, 0, bias=False),
            nn.BatchNorm2d(hid),
            nn.ReLU(inplace=True),
            nn.Conv2d(hid, hid, 3, stride, 1, groups=hid, bias=False),
            nn.BatchNorm2d(hid),
            nn.ReLU(inplace=True),
            nn.Conv2d(hid, oup, 1, 1, 0, bias=False),
            nn.BatchNorm2d(oup),
        )

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv(x)
        return x + out if self.use_res_connect else out


@MODELS.register_module()
class CifarMobileNetV2(CifarBackbone):
    """RepDistiller MobileNetV2 for CIFAR.

    Stages: 0 ``conv1`` (16@16), 1 ``blocks[0:2]`` (12@16), 2 ``blocks[2]``
    (16@8), 3 ``blocks[3:5]`` (48@4), 4 ``blocks[5:7]`` (160@2), 5 ``conv2``
    (1280@2, the pooled map). Channels for the default width 0.5. SimKD
    taps stage 4, before ``conv2``.
    """
    num_stages = 6
    stage_modules = (('conv1', ), ('blocks.0', 'blocks.1'), ('blocks.2', ),
                     ('blocks.3', 'blocks.4'), ('blocks.5', 'blocks.6'),
                     ('conv2', ))
    _STAGE_BLOCKS = {1: (0, 2), 2: (2, 3), 3: (3, 5), 4: (5, 7)}

    def __init__(self,
                 expand_ratio: int = 6,
                 width_mult: float = 0.5,
                 out_indices: Sequence[int] = (5, ),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        in_ch = int(32 * width_mult)
        self.conv1 = nn.Sequential(
            nn.Conv2d(3, in_ch, 3, 2, 1, bias=False), nn.BatchNorm2d(in_ch),
            nn.ReLU(inplace=True))
        self.blocks = nn.ModuleList()
        for t, c, n, s in _SETTING:
            t = expand_ratio if t == 'T' else t
            out_ch = int(c * width_mult)
            layers = []
            for stride in [s] + [1] * (n - 1):
                layers.append(InvertedResidual(in_ch, out_ch, stride, t))
                in_ch = out_ch
            self.blocks.append(nn.Sequential(*layers))
        self.last_channel = int(1280 * width_mult) \
            if width_mult > 1.0 else 1280
        self.conv2 = nn.Sequential(
            nn.Conv2d(in_ch, self.last_channel, 1, 1, 0, bias=False),
            nn.BatchNorm2d(self.last_channel), nn.ReLU(inplace=True))
        self.out_channels = self.last_channel
        self._set_out_indices(out_indices)

    def stage_forward(self, index: int, x: Tensor) -> Tensor:
        if index == 0:
            return self.conv1(x)
        if index == 5:
            return self.conv2(x)
        lo, hi = self._STAGE_BLOCKS[index]
        for i in range(lo, hi):
            x = self.blocks[i](x)
        return x
