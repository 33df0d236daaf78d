# Copyright (c) dckd_mm contributors. All rights reserved.
"""RepDistiller's VGG with BN for CIFAR (``models/vgg.py``)."""
from typing import Dict, List, Optional, Sequence

import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS
from torch import Tensor

from ...errors import ConfigError
from ._base import CifarBackbone

__all__ = ['CifarVGG', 'CIFAR_VGG_ARCHS']

CIFAR_VGG_ARCHS: Dict[str, List[List[int]]] = {
    'vgg8': [[64], [128], [256], [512], [512]],
    'vgg11': [[64], [128], [256, 256], [512, 512], [512, 512]],
    'vgg13': [[64, 64], [128, 128], [256, 256], [512, 512], [512, 512]],
    'vgg16': [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512],
              [512, 512, 512]],
    'vgg19': [[64, 64], [128, 128], [256, 256, 256, 256],
              [512, 512, 512, 512], [512, 512, 512, 512]],
}


def _make_block(cfg: List[int], in_channels: int) -> nn.Sequential:
    layers: List[nn.Module] = []
    for v in cfg:
        layers += [
            nn.Conv2d(in_channels, v, 3, padding=1),
            nn.BatchNorm2d(v),
            nn.ReLU(inplace=True)
        ]
        in_channels = v
    return nn.Sequential(*layers[:-1])  # the stage's ReLU is applied after


@MODELS.register_module()
class CifarVGG(CifarBackbone):
    """RepDistiller VGG-BN: stages ``block0``-``block4``, each followed by a
    ReLU; max-pools ``pool0``-``pool2`` between stages (and ``pool3`` only
    for 64x64 inputs, as in RepDistiller). SimKD taps stage 4, the map
    that is pooled."""
    num_stages = 5
    stage_modules = (('block0', ), ('pool0', 'block1'), ('pool1', 'block2'),
                     ('pool2', 'block3'), ('pool3', 'block4'))

    def __init__(self,
                 arch: str = 'vgg13',
                 out_indices: Sequence[int] = (4, ),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if arch not in CIFAR_VGG_ARCHS:
            raise ConfigError(f'CifarVGG: unknown arch {arch!r}; choose one '
                              f'of {sorted(CIFAR_VGG_ARCHS)}.')
        cfg = CIFAR_VGG_ARCHS[arch]
        self.arch = arch
        in_ch = 3
        for i, block in enumerate(cfg):
            setattr(self, f'block{i}', _make_block(block, in_ch))
            in_ch = block[-1]
        for i in range(4):
            setattr(self, f'pool{i}', nn.MaxPool2d(2, stride=2))
        self.out_channels = in_ch
        self._set_out_indices(out_indices)
        self._input_h = 32

    def forward(self, x: Tensor) -> tuple:
        self._input_h = x.shape[2]
        return super().forward(x)

    def stage_forward(self, index: int, x: Tensor) -> Tensor:
        if 1 <= index <= 3 or (index == 4 and self._input_h == 64):
            x = getattr(self, f'pool{index - 1}')(x)
        return F.relu(getattr(self, f'block{index}')(x))
