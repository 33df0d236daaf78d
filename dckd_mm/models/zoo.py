# Copyright (c) dckd_mm contributors. All rights reserved.
"""The RepDistiller/SimKD CIFAR model zoo as mmpretrain model configs.

Each entry names the backbone config, the channels and side (at 32x32
input) of the pooled map (the classifier's input), the classifier's key
prefix in RepDistiller/SimKD checkpoints (``fc``, ``linear``,
``classifier`` or ``classifier.0``, which the checkpoint converter maps to
``head.fc``), the architecture family, and the model's SimKD feature tap.

The feature tap is the one place that says which map SimKD's projector
reads: SimKD's ``feat[-2]`` (``model(x, is_feat=True)``, RepDistiller's
``preact=False`` path). For ResNet, VGG and ShuffleV1 it is the pooled map;
for ShuffleV2 and MobileNetV2 it is the last stage *before* the final 1x1
conv, and for WRN the last block's output *before* the final BN + ReLU.
:class:`SimKDClsHead`, the DCKD pair configs (:func:`simkd_pair_model`)
and the checkpoint converter all read it from here. See
``docs/simkd_students.md``.
"""
from copy import deepcopy
from typing import Dict, NamedTuple

from ..errors import ConfigError

__all__ = [
    'FeatureTap', 'ZooEntry', 'CIFAR_ZOO', 'LAST_STAGE',
    'cifar_classifier_cfg', 'simkd_tap', 'simkd_backbone_cfg',
    'simkd_student_cfg', 'simkd_pair_model'
]


class FeatureTap(NamedTuple):
    """Where SimKD reads a model's feature map (its ``feat[-2]``).

    Attributes:
        stage (int): backbone stage (``out_indices`` entry) that outputs it.
        channels (int): its channels.
        side (int): its side at 32x32 input.
        skipped (str): what of the classifier path comes after the tap and
            is not applied; empty when the tap is the pooled map.
    """
    stage: int
    channels: int
    side: int
    skipped: str = ''

    def describe(self) -> str:
        where = f'stage {self.stage}, {self.channels}@{self.side}x' \
                f'{self.side}'
        if self.skipped:
            return f'{where}, before {self.skipped}'
        return f'{where}, the pooled map'


class ZooEntry(NamedTuple):
    """One CIFAR model: see the module docstring."""
    backbone: dict
    channels: int
    classifier_key: str
    side: int
    family: str
    simkd_tap: FeatureTap


# Index of the last backbone stage (the pooled map) per family.
LAST_STAGE: Dict[str, int] = dict(
    resnet=3, resnet50=4, wrn=4, vgg=4, mobilenetv2=5, shufflev1=3,
    shufflev2=4)


def _entry(backbone: dict, channels: int, classifier_key: str, side: int,
           family: str) -> ZooEntry:
    """An entry whose SimKD tap is the pooled map (the last stage)."""
    return ZooEntry(backbone, channels, classifier_key, side, family,
                    FeatureTap(LAST_STAGE[family], channels, side))


def _resnet(arch: str, channels: int) -> ZooEntry:
    return _entry(dict(type='CifarResNet', arch=arch), channels, 'fc', 8,
                  'resnet')


def _wrn(arch: str, channels: int) -> ZooEntry:
    # RepDistiller's wrn.py: feat[-2] is block3's output; the final bn1 +
    # ReLU (stage 4) only feeds the pooled map.
    return ZooEntry(
        dict(type='CifarWideResNet', arch=arch), channels, 'fc', 8, 'wrn',
        FeatureTap(3, channels, 8, 'the final bn1 + ReLU'))


def _shufflev2(net_size: float, tap_channels: int) -> ZooEntry:
    # feat[-2] is layer3's output; conv2/bn2 (1x1 to 1024 + BN + ReLU) only
    # feed the pooled map.
    return ZooEntry(
        dict(type='CifarShuffleNetV2', net_size=net_size), 1024, 'linear',
        4, 'shufflev2',
        FeatureTap(3, tap_channels, 4, 'conv2 + bn2 + ReLU (1x1 to 1024)'))


CIFAR_ZOO: Dict[str, ZooEntry] = {
    **{a: _resnet(a, 64)
       for a in ('resnet8', 'resnet14', 'resnet20', 'resnet32', 'resnet44',
                 'resnet56', 'resnet110', 'resnet116')},
    'resnet8x4': _resnet('resnet8x4', 256),
    'resnet32x4': _resnet('resnet32x4', 256),
    'resnet38x2': _resnet('resnet38x2', 128),
    'resnet110x2': _resnet('resnet110x2', 128),
    **{a: _wrn(a, c)
       for a, c in (('wrn_16_1', 64), ('wrn_16_2', 128), ('wrn_40_1', 64),
                    ('wrn_40_2', 128))},
    **{a: _entry(dict(type='CifarVGG', arch=a), 512, 'classifier', 4, 'vgg')
       for a in ('vgg8', 'vgg11', 'vgg13', 'vgg16', 'vgg19')},
    'ResNet50': _entry(
        dict(type='CifarResNet50'), 2048, 'linear', 4, 'resnet50'),
    # MobileNetV2: feat[-2] is blocks[6]'s output (160@2); conv2 (1x1 to
    # 1280 + BN + ReLU) only feeds the pooled map.
    'MobileNetV2': ZooEntry(
        dict(type='CifarMobileNetV2'), 1280, 'classifier.0', 2,
        'mobilenetv2',
        FeatureTap(4, 160, 2, 'conv2 (1x1 to 1280 + BN + ReLU)')),
    'ShuffleV1': _entry(
        dict(type='CifarShuffleNetV1'), 960, 'linear', 4, 'shufflev1'),
    'ShuffleV2': _shufflev2(1.0, 464),
    'ShuffleV2_1_5': _shufflev2(1.5, 704),
}


def _get(name: str) -> ZooEntry:
    if name not in CIFAR_ZOO:
        raise ConfigError(f'unknown CIFAR model {name!r}; choose one of '
                          f'{sorted(CIFAR_ZOO)}.')
    return CIFAR_ZOO[name]


def cifar_classifier_cfg(name: str, num_classes: int = 100) -> dict:
    """mmpretrain ``ImageClassifier`` config of zoo model ``name``."""
    entry = _get(name)
    return dict(
        type='mmpretrain.ImageClassifier',
        backbone=dict(deepcopy(entry.backbone)),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(
            type='LinearClsHead',
            num_classes=num_classes,
            in_channels=entry.channels,
            loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))


def simkd_tap(name: str) -> FeatureTap:
    """SimKD feature tap of zoo model ``name``."""
    return _get(name).simkd_tap


def simkd_backbone_cfg(name: str) -> dict:
    """Backbone config of ``name`` whose output is its SimKD feature tap."""
    entry = _get(name)
    return dict(deepcopy(entry.backbone),
                out_indices=(entry.simkd_tap.stage, ))


def _check_teacher(teacher: str) -> ZooEntry:
    entry = _get(teacher)
    if entry.simkd_tap.channels != entry.channels:
        raise ConfigError(
            f'SimKD cannot reuse the classifier of {teacher}: its feature '
            f'tap ({entry.simkd_tap.describe()}) has '
            f'{entry.simkd_tap.channels} channels but its classifier takes '
            f'{entry.channels}. Choose another teacher.')
    return entry


def simkd_student_cfg(student: str, teacher: str,
                      num_classes: int = 100) -> dict:
    """mmpretrain config of a deployed SimKD student.

    Its backbone outputs the student's SimKD tap; the
    :class:`SimKDClsHead` holds the projector (tap channels -> teacher
    channels) and the teacher's classifier, so the logits are SimKD's
    ``cls_T(GAP(projector(feat_S[-2])))``.
    """
    t_ch = _check_teacher(teacher).channels
    return dict(
        type='mmpretrain.ImageClassifier',
        backbone=simkd_backbone_cfg(student),
        neck=None,
        head=dict(
            type='SimKDClsHead',
            num_classes=num_classes,
            in_channels=t_ch,
            student_arch=student,
            projector=dict(
                type='SimKDProjector',
                in_channels=simkd_tap(student).channels,
                out_channels=t_ch,
                factor=2),
            loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))


def simkd_pair_model(teacher: str, student: str,
                     num_classes: int = 100) -> dict:
    """``model`` overrides of a DCKD/SimKD pair config on top of
    ``configs/_base_/distill/simkd_dckd.py``.

    The student is :func:`simkd_student_cfg`'s. The teacher's feature-loss
    target is its SimKD tap too (SimKD's ``feat_t[-2]``): when that is not
    the pooled map (a WRN teacher), the teacher backbone returns both, the
    tap first, and the loss reads output 0.
    """
    t_entry = _check_teacher(teacher)
    s_cfg = simkd_student_cfg(student, teacher, num_classes)
    head = s_cfg['head']
    t_backbone = deepcopy(t_entry.backbone)
    last = LAST_STAGE[t_entry.family]
    model = dict(
        architecture=dict(
            backbone=dict(_delete_=True, **s_cfg['backbone']),
            head=dict(
                num_classes=num_classes,
                in_channels=head['in_channels'],
                student_arch=student,
                projector=dict(head['projector']))),
        teacher=dict(
            backbone=dict(_delete_=True, **t_backbone),
            head=dict(num_classes=num_classes,
                      in_channels=t_entry.channels)))
    if t_entry.simkd_tap.stage != last:
        model['teacher']['backbone']['out_indices'] = (
            t_entry.simkd_tap.stage, last)
        model['distiller'] = dict(
            loss_forward_mappings=dict(
                loss_feat=dict(t_feature=dict(data_idx=0))))
    return model
