# Copyright (c) dckd_mm contributors. All rights reserved.
"""Shared contract of the RepDistiller-compatible CIFAR backbones."""
from typing import Sequence, Tuple

import torch.nn as nn
from mmpretrain.models.backbones.base_backbone import BaseBackbone
from torch import Tensor

from ...errors import ConfigError

__all__ = ['CifarBackbone']


class CifarBackbone(BaseBackbone):
    """A backbone made of ``stages`` (a list of attribute-name groups).

    Subclasses keep RepDistiller's module names (``conv1``, ``bn1``,
    ``layer1``, ``block1``...) so that RepDistiller/CRD/SimKD checkpoints
    convert by a key remap, and implement :meth:`stage_forward`.
    ``forward`` returns the outputs of the stages in ``out_indices``, as
    mmpretrain backbones do; the last stage is the map that
    ``GlobalAveragePooling`` + ``LinearClsHead`` turn into the logits.

    ``stage_modules`` names, per stage, the submodules that stage runs.
    Stages after the last one in ``out_indices`` never run (a SimKD
    student tapped before its final 1x1 conv or BN+ReLU, for instance):
    their parameters are frozen, since no gradient can reach them (DDP
    would otherwise report them unused), and stay in the state dict, so
    that upstream checkpoints still load strictly.
    """

    num_stages: int = 0
    stage_modules: Tuple[Tuple[str, ...], ...] = ()

    def _set_out_indices(self, out_indices: Sequence[int]) -> None:
        if isinstance(out_indices, int):
            out_indices = (out_indices, )
        indices = []
        for i in out_indices:
            j = i + self.num_stages if i < 0 else i
            if not 0 <= j < self.num_stages:
                raise ConfigError(
                    f'{type(self).__name__}: out_indices {tuple(out_indices)}'
                    f' out of range for {self.num_stages} stages.')
            indices.append(j)
        self.out_indices = tuple(indices)
        for names in self.stage_modules[max(indices) + 1:]:
            for name in names:
                for param in self.get_submodule(name).parameters():
                    param.requires_grad_(False)

    def stage_forward(self, index: int, x: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        outs = []
        last = max(self.out_indices)
        for i in range(last + 1):
            x = self.stage_forward(i, x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(
        in_planes, out_planes, 3, stride=stride, padding=1, bias=False)
