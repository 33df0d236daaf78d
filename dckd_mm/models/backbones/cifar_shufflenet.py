# Copyright (c) dckd_mm contributors. All rights reserved.
"""RepDistiller's CIFAR ShuffleNets (``models/ShuffleNetv1.py``,
``ShuffleNetv2.py``) and SimKD's ``ShuffleV2_1_5``."""
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS
from torch import Tensor

from ...errors import ConfigError
from ._base import CifarBackbone

__all__ = ['CifarShuffleNetV1', 'CifarShuffleNetV2']


def channel_shuffle(x: Tensor, groups: int) -> Tensor:
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h,
                  w).permute(0, 2, 1, 3, 4).reshape(n, c, h, w)


class V1Bottleneck(nn.Module):

    def __init__(self, in_planes: int, out_planes: int, stride: int,
                 groups: int) -> None:
        super().__init__()
        self.stride = stride
        mid = int(out_planes / 4)
        g = 1 if in_planes == 24 else groups
        self.g = g
        self.conv1 = nn.Conv2d(in_planes, mid, 1, groups=g, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(
            mid, mid, 3, stride=stride, padding=1, groups=mid, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, out_planes, 1, groups=groups, bias=False)
        self.bn3 = nn.BatchNorm2d(out_planes)
        self.shortcut = nn.Sequential()
        if stride == 2:
            self.shortcut = nn.Sequential(nn.AvgPool2d(3, stride=2,
                                                       padding=1))

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = channel_shuffle(out, self.g)
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        res = self.shortcut(x)
        out = torch.cat([out, res], 1) if self.stride == 2 else out + res
        return F.relu(out)


@MODELS.register_module()
class CifarShuffleNetV1(CifarBackbone):
    """RepDistiller ``ShuffleV1`` (groups 3; 240/480/960 channels).

    Stages: 0 stem (``conv1`` 1x1, ``bn1``), 1-3 ``layer1``-``layer3``.
    SimKD taps stage 3, the map that is pooled.
    """
    num_stages = 4
    stage_modules = (('conv1', 'bn1'), ('layer1', ), ('layer2', ),
                     ('layer3', ))

    def __init__(self,
                 out_planes: Sequence[int] = (240, 480, 960),
                 num_blocks: Sequence[int] = (4, 8, 4),
                 groups: int = 3,
                 out_indices: Sequence[int] = (3, ),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.conv1 = nn.Conv2d(3, 24, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(24)
        self.in_planes = 24
        for i, (planes, blocks) in enumerate(zip(out_planes, num_blocks)):
            layers = []
            for j in range(blocks):
                cat_planes = self.in_planes if j == 0 else 0
                layers.append(
                    V1Bottleneck(self.in_planes, planes - cat_planes,
                                 2 if j == 0 else 1, groups))
                self.in_planes = planes
            setattr(self, f'layer{i + 1}', nn.Sequential(*layers))
        self.out_channels = out_planes[-1]
        self._set_out_indices(out_indices)

    def stage_forward(self, index: int, x: Tensor) -> Tensor:
        if index == 0:
            return F.relu(self.bn1(self.conv1(x)))
        return getattr(self, f'layer{index}')(x)


class V2BasicBlock(nn.Module):

    def __init__(self, in_channels: int, split_ratio: float = 0.5) -> None:
        super().__init__()
        self.split_ratio = split_ratio
        c = int(in_channels * split_ratio)
        self.conv1 = nn.Conv2d(c, c, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False)
        self.bn2 = nn.BatchNorm2d(c)
        self.conv3 = nn.Conv2d(c, c, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(c)

    def forward(self, x: Tensor) -> Tensor:
        c = int(x.size(1) * self.split_ratio)
        x1, x2 = x[:, :c], x[:, c:]
        out = F.relu(self.bn1(self.conv1(x2)))
        out = self.bn2(self.conv2(out))
        out = F.relu(self.bn3(self.conv3(out)))
        return channel_shuffle(torch.cat([x1, out], 1), 2)


class V2DownBlock(nn.Module):

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        mid = out_channels // 2
        self.conv1 = nn.Conv2d(
            in_channels,
            in_channels,
            3,
            stride=2,
            padding=1,
            groups=in_channels,
            bias=False)
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv2 = nn.Conv2d(in_channels, mid, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(in_channels, mid, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(mid)
        self.conv4 = nn.Conv2d(
            mid, mid, 3, stride=2, padding=1, groups=mid, bias=False)
        self.bn4 = nn.BatchNorm2d(mid)
        self.conv5 = nn.Conv2d(mid, mid, 1, bias=False)
        self.bn5 = nn.BatchNorm2d(mid)

    def forward(self, x: Tensor) -> Tensor:
        out1 = self.bn1(self.conv1(x))
        out1 = F.relu(self.bn2(self.conv2(out1)))
        out2 = F.relu(self.bn3(self.conv3(x)))
        out2 = self.bn4(self.conv4(out2))
        out2 = F.relu(self.bn5(self.conv5(out2)))
        return channel_shuffle(torch.cat([out1, out2], 1), 2)


# net_size: (out_channels, num_blocks)
SHUFFLEV2_SIZES: Dict[float, Tuple[Tuple[int, ...], Tuple[int, ...]]] = {
    0.5: ((48, 96, 192, 1024), (3, 7, 3)),
    1.0: ((116, 232, 464, 1024), (3, 7, 3)),
    1.5: ((176, 352, 704, 1024), (3, 7, 3)),
    2.0: ((224, 488, 976, 2048), (3, 7, 3)),
}


@MODELS.register_module()
class CifarShuffleNetV2(CifarBackbone):
    """RepDistiller ``ShuffleV2`` (``net_size=1``) and SimKD
    ``ShuffleV2_1_5`` (``net_size=1.5``).

    Stages: 0 stem (``conv1`` 1x1, ``bn1``), 1-3 ``layer1``-``layer3``,
    4 ``conv2``/``bn2`` (1024 channels, the pooled map). SimKD taps
    stage 3 (464 or 704 channels), before ``conv2``.
    """
    num_stages = 5
    stage_modules = (('conv1', 'bn1'), ('layer1', ), ('layer2', ),
                     ('layer3', ), ('conv2', 'bn2'))

    def __init__(self,
                 net_size: float = 1.0,
                 out_indices: Sequence[int] = (4, ),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if float(net_size) not in SHUFFLEV2_SIZES:
            raise ConfigError(f'CifarShuffleNetV2: unknown net_size '
                              f'{net_size!r}; choose one of '
                              f'{sorted(SHUFFLEV2_SIZES)}.')
        out_channels, num_blocks = SHUFFLEV2_SIZES[float(net_size)]
        self.conv1 = nn.Conv2d(3, 24, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(24)
        in_ch = 24
        for i in range(3):
            layers = [V2DownBlock(in_ch, out_channels[i])]
            layers += [
                V2BasicBlock(out_channels[i]) for _ in range(num_blocks[i])
            ]
            setattr(self, f'layer{i + 1}', nn.Sequential(*layers))
            in_ch = out_channels[i]
        self.conv2 = nn.Conv2d(in_ch, out_channels[3], 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels[3])
        self.out_channels = out_channels[3]
        self._set_out_indices(out_indices)

    def stage_forward(self, index: int, x: Tensor) -> Tensor:
        if index == 0:
            return F.relu(self.bn1(self.conv1(x)))
        if index == 4:
            return F.relu(self.bn2(self.conv2(x)))
        return getattr(self, f'layer{index}')(x)
