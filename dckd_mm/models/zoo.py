# Copyright (c) dckd_mm contributors. All rights reserved.
"""The RepDistiller/SimKD CIFAR model zoo as mmpretrain model configs.

Each entry names the backbone config, the channels of the pooled map (the
classifier's input) and the classifier's key prefix in RepDistiller/SimKD
checkpoints (``fc``, ``linear``, ``classifier`` or ``classifier.0``), which
the checkpoint converter maps to ``head.fc``.
"""
from copy import deepcopy
from typing import Dict, NamedTuple

__all__ = ['ZooEntry', 'CIFAR_ZOO', 'cifar_classifier_cfg']


class ZooEntry(NamedTuple):
    backbone: dict
    channels: int
    classifier_key: str


def _resnet(arch: str, channels: int) -> ZooEntry:
    return ZooEntry(dict(type='CifarResNet', arch=arch), channels, 'fc')


CIFAR_ZOO: Dict[str, ZooEntry] = {
    **{a: _resnet(a, 64)
       for a in ('resnet8', 'resnet14', 'resnet20', 'resnet32', 'resnet44',
                 'resnet56', 'resnet110', 'resnet116')},
    'resnet8x4': _resnet('resnet8x4', 256),
    'resnet32x4': _resnet('resnet32x4', 256),
    'resnet38x2': _resnet('resnet38x2', 128),
    'resnet110x2': _resnet('resnet110x2', 128),
    **{a: ZooEntry(dict(type='CifarWideResNet', arch=a), c, 'fc')
       for a, c in (('wrn_16_1', 64), ('wrn_16_2', 128), ('wrn_40_1', 64),
                    ('wrn_40_2', 128))},
    **{a: ZooEntry(dict(type='CifarVGG', arch=a), 512, 'classifier')
       for a in ('vgg8', 'vgg11', 'vgg13', 'vgg16', 'vgg19')},
    'ResNet50': ZooEntry(dict(type='CifarResNet50'), 2048, 'linear'),
    'MobileNetV2': ZooEntry(
        dict(type='CifarMobileNetV2'), 1280, 'classifier.0'),
    'ShuffleV1': ZooEntry(dict(type='CifarShuffleNetV1'), 960, 'linear'),
    'ShuffleV2': ZooEntry(
        dict(type='CifarShuffleNetV2', net_size=1.0), 1024, 'linear'),
    'ShuffleV2_1_5': ZooEntry(
        dict(type='CifarShuffleNetV2', net_size=1.5), 1024, 'linear'),
}


def cifar_classifier_cfg(name: str, num_classes: int = 100) -> dict:
    """mmpretrain ``ImageClassifier`` config of zoo model ``name``."""
    if name not in CIFAR_ZOO:
        raise ValueError(f'unknown CIFAR model {name!r}; choose one of '
                         f'{sorted(CIFAR_ZOO)}.')
    entry = CIFAR_ZOO[name]
    return dict(
        type='mmpretrain.ImageClassifier',
        backbone=dict(deepcopy(entry.backbone)),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(
            type='LinearClsHead',
            num_classes=num_classes,
            in_channels=entry.channels,
            loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))
