# Copyright (c) dckd_mm contributors. All rights reserved.
"""RepDistiller's Wide ResNets (``models/wrn.py``): wrn_16_1 ... wrn_40_2."""
from typing import Dict, Optional, Sequence, Tuple

import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS
from torch import Tensor

from ...errors import ConfigError
from ._base import CifarBackbone

__all__ = ['CifarWideResNet', 'CIFAR_WRN_ARCHS']

# name: (depth, widen_factor)
CIFAR_WRN_ARCHS: Dict[str, Tuple[int, int]] = {
    'wrn_16_1': (16, 1),
    'wrn_16_2': (16, 2),
    'wrn_40_1': (40, 1),
    'wrn_40_2': (40, 2),
}


class WRNBlock(nn.Module):
    """RepDistiller ``wrn.BasicBlock`` (pre-activation)."""

    def __init__(self,
                 in_planes: int,
                 out_planes: int,
                 stride: int,
                 drop_rate: float = 0.0) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(
            in_planes, out_planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_planes)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(
            out_planes, out_planes, 3, stride=1, padding=1, bias=False)
        self.drop_rate = drop_rate
        self.equal_in_out = in_planes == out_planes
        self.convShortcut = None if self.equal_in_out else nn.Conv2d(
            in_planes, out_planes, 1, stride=stride, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        if self.equal_in_out:
            out = self.relu1(self.bn1(x))
            shortcut = x
        else:
            x = self.relu1(self.bn1(x))
            out = x
            shortcut = self.convShortcut(x)
        out = self.relu2(self.bn2(self.conv1(out)))
        if self.drop_rate > 0:
            out = F.dropout(out, p=self.drop_rate, training=self.training)
        return shortcut + self.conv2(out)


class NetworkBlock(nn.Module):

    def __init__(self, nb_layers: int, in_planes: int, out_planes: int,
                 stride: int, drop_rate: float) -> None:
        super().__init__()
        self.layer = nn.Sequential(*[
            WRNBlock(in_planes if i == 0 else out_planes, out_planes,
                     stride if i == 0 else 1, drop_rate)
            for i in range(nb_layers)
        ])

    def forward(self, x: Tensor) -> Tensor:
        return self.layer(x)


@MODELS.register_module()
class CifarWideResNet(CifarBackbone):
    """RepDistiller Wide ResNet for CIFAR.

    Stages: 0 ``conv1``, 1-3 ``block1``-``block3``, 4 the final ``bn1`` +
    ReLU (the map RepDistiller pools; the default output).

    Stage 3 is the pre-activation ``block3`` output: RepDistiller's
    ``feat[-2]`` (``preact=False``) and the map SimKD's projector reads
    for a WRN student (``out_indices=(3, )``; ``bn1`` then never runs).
    """
    num_stages = 5
    stage_modules = (('conv1', ), ('block1', ), ('block2', ), ('block3', ),
                     ('bn1', ))

    def __init__(self,
                 arch: str = 'wrn_40_2',
                 drop_rate: float = 0.0,
                 out_indices: Sequence[int] = (4, ),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if arch not in CIFAR_WRN_ARCHS:
            raise ConfigError(f'CifarWideResNet: unknown arch {arch!r}; '
                              f'choose one of {sorted(CIFAR_WRN_ARCHS)}.')
        depth, k = CIFAR_WRN_ARCHS[arch]
        n = (depth - 4) // 6
        ch = [16, 16 * k, 32 * k, 64 * k]
        self.arch = arch
        self.conv1 = nn.Conv2d(3, ch[0], 3, padding=1, bias=False)
        self.block1 = NetworkBlock(n, ch[0], ch[1], 1, drop_rate)
        self.block2 = NetworkBlock(n, ch[1], ch[2], 2, drop_rate)
        self.block3 = NetworkBlock(n, ch[2], ch[3], 2, drop_rate)
        self.bn1 = nn.BatchNorm2d(ch[3])
        self.relu = nn.ReLU(inplace=True)
        self.out_channels = ch[3]
        self._set_out_indices(out_indices)

    def stage_forward(self, index: int, x: Tensor) -> Tensor:
        if index == 0:
            return self.conv1(x)
        if index == 4:
            return self.relu(self.bn1(x))
        return getattr(self, f'block{index}')(x)
