# Copyright (c) dckd_mm contributors. All rights reserved.
"""RepDistiller / CRD / mdistiller / SimKD checkpoints -> mmpretrain.

Pure functions ``state_dict -> state_dict``: the backbone keeps its keys
under ``backbone.``, the classifier (``fc``, ``linear``, ``classifier`` or
``classifier.0``) becomes ``head.fc``, a SimKD projector (``'proj'``,
SimKD's ``transfer.*``) becomes ``head.projector.transfer.*``.
"""
import argparse
from collections import OrderedDict
from typing import Any, Dict, Mapping, Optional, Tuple

from torch import Tensor

from ..compat.safe_loading import safe_load
from ..models.zoo import CIFAR_ZOO, cifar_classifier_cfg
from .checkpoint import describe_mismatch

__all__ = [
    'load_foreign_checkpoint', 'strip_prefixes', 'convert_repdistiller',
    'simkd_student_cfg', 'check_exact', 'convert_file', 'ConversionError',
    'convert_torchvision_resnet', 'torchvision_resnet_cfg'
]


class ConversionError(ValueError):
    """The source does not convert exactly to the target architecture."""


def load_foreign_checkpoint(path: str) -> Mapping[str, Any]:
    """Load a RepDistiller/CRD/mdistiller/SimKD file with safe loading.

    ``*_last.pth`` files pickle their ``argparse.Namespace`` options
    (``'opt'``): that one type is allowed, for this load only.
    """
    ckpt = safe_load(path, extra_safe_globals=[argparse.Namespace])
    if not isinstance(ckpt, Mapping):
        raise ConversionError(f'{path} holds a {type(ckpt).__name__}, not '
                              'a checkpoint dict.')
    return ckpt


def strip_prefixes(state: Mapping[str, Tensor],
                   part: Optional[str] = None) -> Dict[str, Tensor]:
    """Drop ``module.`` (DataParallel) and, with ``part='student'`` or
    ``'teacher'``, select mdistiller's ``student.``/``teacher.`` keys."""
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


def _model_state(ckpt: Mapping[str, Any]) -> Mapping[str, Tensor]:
    for key in ('model', 'state_dict', 'net'):
        if key in ckpt and isinstance(ckpt[key], Mapping):
            return ckpt[key]
    if ckpt and all(isinstance(v, Tensor) for v in ckpt.values()):
        return ckpt
    raise ConversionError(
        "no state dict found: expected a 'model' entry (RepDistiller, CRD, "
        f"mdistiller, SimKD) among the keys {sorted(ckpt)[:10]}.")


def convert_repdistiller(state: Mapping[str, Tensor],
                         arch: str,
                         proj: Optional[Mapping[str, Tensor]] = None
                         ) -> Dict[str, Tensor]:
    """Remap a RepDistiller-layout state dict of zoo model ``arch``."""
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


def simkd_student_cfg(student: str, teacher: str,
                      num_classes: int = 100) -> dict:
    """mmpretrain config of a deployed SimKD student (``SimKDClsHead``)."""
    cfg = cifar_classifier_cfg(student, num_classes)
    t_ch = CIFAR_ZOO[teacher].channels
    cfg['neck'] = None
    cfg['head'] = dict(
        type='SimKDClsHead',
        num_classes=num_classes,
        in_channels=t_ch,
        projector=dict(
            type='SimKDProjector',
            in_channels=CIFAR_ZOO[student].channels,
            out_channels=t_ch))
    return cfg


def check_exact(converted: Mapping[str, Tensor],
                reference: Mapping[str, Tensor], what: str) -> None:
    """Refuse any missing/unexpected key or shape difference."""
    detail = describe_mismatch(converted, reference)
    if detail:
        raise ConversionError(
            f'the source does not convert exactly to {what}: {detail}. '
            'Check --arch (and --teacher-arch); nothing was written.')


def convert_file(src: str, arch: str, num_classes: int = 100,
                 part: Optional[str] = None,
                 teacher_src: Optional[str] = None,
                 teacher_arch: Optional[str] = None
                 ) -> Tuple[Dict[str, Tensor], dict, dict]:
    """Convert ``src``; returns ``(state_dict, model_cfg, meta)``.

    A SimKD student file (with ``'proj'``) needs the teacher's file and
    arch: the deployed student uses the teacher's classifier.
    """
    import torch
    ckpt = load_foreign_checkpoint(src)
    state = strip_prefixes(_model_state(ckpt), part)
    proj = ckpt.get('proj')
    meta: dict = dict(source=src, arch=arch, converter='dckd_mm')
    for key in ('epoch', 'best_acc', 'accuracy'):
        if key in ckpt:
            value = ckpt[key]
            meta[key] = float(value) if isinstance(value, Tensor) and \
                value.numel() == 1 else value
    if proj is None:
        out = convert_repdistiller(state, arch)
        cfg = cifar_classifier_cfg(arch, num_classes)
    else:
        if not (teacher_src and teacher_arch):
            raise ConversionError(
                f"{src} is a SimKD student (it has 'proj'): its classifier "
                'is the teacher\'s, so pass --teacher TEACHER.pth '
                '--teacher-arch NAME too.')
        proj = strip_prefixes(proj)
        out = convert_repdistiller(state, arch, proj)
        # the student's own (unused) classifier is dropped ...
        out = OrderedDict((k, v) for k, v in out.items()
                          if not k.startswith('head.fc.'))
        # ... and the teacher's is used.
        t_state = convert_repdistiller(
            strip_prefixes(_model_state(load_foreign_checkpoint(
                teacher_src))), teacher_arch)
        out['head.fc.weight'] = t_state['head.fc.weight']
        out['head.fc.bias'] = t_state['head.fc.bias']
        side = teacher_feature_side(teacher_arch)
        out['head.target_hw'] = torch.tensor([side, side])
        cfg = simkd_student_cfg(arch, teacher_arch, num_classes)
        meta.update(teacher_source=teacher_src, teacher_arch=teacher_arch)
    return out, cfg, meta


# Side of the last feature map at 32x32 input (shared/REFERENCE_MODELS.md).
_SIDES = {
    **{a: 4 for a in ('vgg8', 'vgg11', 'vgg13', 'vgg16', 'vgg19',
                      'ResNet50', 'ShuffleV1', 'ShuffleV2',
                      'ShuffleV2_1_5')},
    'MobileNetV2': 2,
}


def teacher_feature_side(arch: str) -> int:
    """Side of the last feature map of zoo model ``arch`` at 32x32."""
    return _SIDES.get(arch, 8)


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


def torchvision_resnet_cfg(depth: int, num_classes: int = 1000) -> dict:
    """The mmpretrain model config that torchvision's ResNet maps to."""
    if depth not in (18, 34, 50, 101, 152):
        raise ConversionError(f'unsupported ResNet depth {depth}; '
                              'choose 18, 34, 50, 101 or 152.')
    return dict(
        type='ImageClassifier',
        backbone=dict(type='ResNet', depth=depth),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(
            type='LinearClsHead',
            num_classes=num_classes,
            in_channels=512 if depth < 50 else 2048))
