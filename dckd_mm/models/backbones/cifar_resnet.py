# Copyright (c) dckd_mm contributors. All rights reserved.
"""CIFAR ResNets of RepDistiller (``models/resnet.py``, ``resnetv2.py``) and
SimKD (``resnet38x2``, ``resnet110x2``, ``resnet116``), with their module
names, in the mmpretrain backbone contract."""
from typing import Dict, List, Optional, Sequence, Tuple

import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS
from torch import Tensor

from ...errors import ConfigError
from ._base import CifarBackbone, conv3x3

__all__ = ['CifarResNet', 'CifarResNet50', 'CIFAR_RESNET_ARCHS']

# name: (depth, num_filters)
CIFAR_RESNET_ARCHS: Dict[str, Tuple[int, List[int]]] = {
    'resnet8': (8, [16, 16, 32, 64]),
    'resnet14': (14, [16, 16, 32, 64]),
    'resnet20': (20, [16, 16, 32, 64]),
    'resnet32': (32, [16, 16, 32, 64]),
    'resnet44': (44, [16, 16, 32, 64]),
    'resnet56': (56, [16, 16, 32, 64]),
    'resnet110': (110, [16, 16, 32, 64]),
    'resnet116': (116, [16, 16, 32, 64]),
    'resnet8x4': (8, [32, 64, 128, 256]),
    'resnet32x4': (32, [32, 64, 128, 256]),
    'resnet38x2': (38, [16, 32, 64, 128]),
    'resnet110x2': (110, [16, 32, 64, 128]),
}


class BasicBlock(nn.Module):
    """RepDistiller's ``BasicBlock`` (post-activation)."""
    expansion = 1

    def __init__(self,
                 inplanes: int,
                 planes: int,
                 stride: int = 1,
                 downsample: Optional[nn.Module] = None) -> None:
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + residual)


@MODELS.register_module()
class CifarResNet(CifarBackbone):
    """RepDistiller/SimKD CIFAR ResNet (``resnet8`` ... ``resnet110x2``).

    Stages: 0 stem (``conv1``/``bn1``), 1-3 ``layer1``-``layer3``.
    SimKD taps stage 3, the map that is pooled.

    Args:
        arch (str): one of :data:`CIFAR_RESNET_ARCHS`.
        out_indices (Sequence[int]): stages to return. Defaults to ``(3,)``.
        init_cfg (dict, optional): mmengine init config.
    """
    num_stages = 4
    stage_modules = (('conv1', 'bn1'), ('layer1', ), ('layer2', ),
                     ('layer3', ))

    def __init__(self,
                 arch: str = 'resnet8x4',
                 out_indices: Sequence[int] = (3, ),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if arch not in CIFAR_RESNET_ARCHS:
            raise ConfigError(f'CifarResNet: unknown arch {arch!r}; choose '
                              f'one of {sorted(CIFAR_RESNET_ARCHS)}.')
        depth, filters = CIFAR_RESNET_ARCHS[arch]
        n = (depth - 2) // 6
        self.arch = arch
        self.inplanes = filters[0]
        self.conv1 = nn.Conv2d(3, filters[0], 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(filters[0])
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._make_layer(filters[1], n)
        self.layer2 = self._make_layer(filters[2], n, stride=2)
        self.layer3 = self._make_layer(filters[3], n, stride=2)
        self.out_channels = filters[3]
        self._set_out_indices(out_indices)

    def _make_layer(self, planes: int, blocks: int,
                    stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes, 1, stride=stride,
                          bias=False), nn.BatchNorm2d(planes))
        layers = [BasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        layers += [BasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def stage_forward(self, index: int, x: Tensor) -> Tensor:
        if index == 0:
            return self.relu(self.bn1(self.conv1(x)))
        return getattr(self, f'layer{index}')(x)


class Bottleneck(nn.Module):
    """RepDistiller ``resnetv2.Bottleneck`` (expansion 4)."""
    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, self.expansion * planes, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(self.expansion * planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != self.expansion * planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(
                    in_planes,
                    self.expansion * planes,
                    1,
                    stride=stride,
                    bias=False), nn.BatchNorm2d(self.expansion * planes))

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + self.shortcut(x))


@MODELS.register_module()
class CifarResNet50(CifarBackbone):
    """RepDistiller ``ResNet50`` for CIFAR (3x3 stride-1 stem, no max-pool).

    Stages: 0 stem, 1-4 ``layer1``-``layer4`` (2048 channels at 4x4).
    """
    num_stages = 5
    stage_modules = (('conv1', 'bn1'), ('layer1', ), ('layer2', ),
                     ('layer3', ), ('layer4', ))

    def __init__(self,
                 num_blocks: Sequence[int] = (3, 4, 6, 3),
                 out_indices: Sequence[int] = (4, ),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_planes = 64
        self.conv1 = nn.Conv2d(3, 64, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.layer1 = self._make_layer(64, num_blocks[0], 1)
        self.layer2 = self._make_layer(128, num_blocks[1], 2)
        self.layer3 = self._make_layer(256, num_blocks[2], 2)
        self.layer4 = self._make_layer(512, num_blocks[3], 2)
        self.out_channels = 512 * Bottleneck.expansion
        self._set_out_indices(out_indices)

    def _make_layer(self, planes: int, blocks: int,
                    stride: int) -> nn.Sequential:
        layers = []
        for s in [stride] + [1] * (blocks - 1):
            layers.append(Bottleneck(self.in_planes, planes, s))
            self.in_planes = planes * Bottleneck.expansion
        return nn.Sequential(*layers)

    def stage_forward(self, index: int, x: Tensor) -> Tensor:
        if index == 0:
            return F.relu(self.bn1(self.conv1(x)))
        return getattr(self, f'layer{index}')(x)
