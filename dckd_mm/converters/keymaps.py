# Copyright (c) dckd_mm contributors. All rights reserved.
"""Key maps: upstream ``state_dict -> state_dict`` renames, no checks.

RepDistiller/CRD/mdistiller/SimKD: the backbone keeps its keys under
``backbone.``, the classifier (``fc``, ``linear``, ``classifier`` or
``classifier.0``, per ``CIFAR_ZOO[arch].classifier_key``) becomes
``head.fc``, a SimKD projector (``'proj'``, SimKD's ``transfer.*``)
becomes ``head.projector.transfer.*``. torchvision ResNets: ``fc`` becomes
``head.fc``, everything else goes under ``backbone.``.
"""
from collections import OrderedDict
from typing import Dict, Mapping, Optional

from torch import Tensor

from ..errors import ConversionError
from ..models.zoo import CIFAR_ZOO

__all__ = [
    'strip_prefixes', 'convert_repdistiller', 'convert_torchvision_resnet'
]


def strip_prefixes(state: Mapping[str, Tensor],
                   part: Optional[str] = None) -> Dict[str, Tensor]:
    """Drop ``module.`` (DataParallel) and, with ``part='student'`` or
    ``'teacher'``, select mdistiller's ``student.``/``teacher.`` keys.

    Args:
        state (Mapping[str, Tensor]): an upstream state dict.
        part (str, optional): the mdistiller model to keep.

    Returns:
        dict: the same tensors under the stripped keys, in order.
    """
    out: Dict[str, Tensor] = OrderedDict()
    for key, value in state.items():
        if key.startswith('module.'):
            key = key[len('module.'):]
        if part is not None:
            if not key.startswith(part + '.'):
                continue
            key = key[len(part) + 1:]
        out[key] = value
    return out


def convert_repdistiller(state: Mapping[str, Tensor],
                         arch: str,
                         proj: Optional[Mapping[str, Tensor]] = None
                         ) -> Dict[str, Tensor]:
    """Remap a RepDistiller-layout state dict of zoo model ``arch``.

    Args:
        state (Mapping[str, Tensor]): without ``module.`` prefixes.
        arch (str): the CIFAR zoo name.
        proj (Mapping[str, Tensor], optional): SimKD's ``'proj'``.

    Raises:
        ConversionError: an unknown ``arch``.
    """
    if arch not in CIFAR_ZOO:
        raise ConversionError(f'unknown arch {arch!r}; choose one of '
                              f'{sorted(CIFAR_ZOO)}.')
    cls_key = CIFAR_ZOO[arch].classifier_key + '.'
    out: Dict[str, Tensor] = OrderedDict()
    for key, value in state.items():
        if key.startswith(cls_key):
            out['head.fc.' + key[len(cls_key):]] = value
        else:
            out['backbone.' + key] = value
    for key, value in (proj or {}).items():
        out['head.projector.' + key] = value
    return out


def convert_torchvision_resnet(state: Mapping[str, Tensor]
                               ) -> Dict[str, Tensor]:
    """torchvision ``resnet18/34/50/101/152`` keys -> mmpretrain
    ``ImageClassifier(ResNet, GlobalAveragePooling, LinearClsHead)``.

    The module names agree (``conv1``, ``bn1``, ``layerN.i.convK``,
    ``downsample.0/1``); only the prefixes differ: ``fc`` becomes
    ``head.fc``, everything else goes under ``backbone.``.
    """
    out: Dict[str, Tensor] = OrderedDict()
    for key, value in strip_prefixes(state).items():
        if key.startswith('fc.'):
            out['head.' + key] = value
        else:
            out['backbone.' + key] = value
    return out
