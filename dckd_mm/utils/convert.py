# Copyright (c) dckd_mm contributors. All rights reserved.
"""RepDistiller / CRD / mdistiller / SimKD checkpoints -> mmpretrain.

``state_dict -> state_dict`` remaps: the backbone keeps its keys under
``backbone.``, the classifier (``fc``, ``linear``, ``classifier`` or
``classifier.0``) becomes ``head.fc``, a SimKD projector (``'proj'``,
SimKD's ``transfer.*``) becomes ``head.projector.transfer.*``.

:func:`convert_file` is exact or refuses (:class:`ConversionError`,
nothing returned): the result must load strictly into the zoo model, and a
logit self-check compares that model with the upstream computation rebuilt
from the source tensors (:func:`upstream_forward`, written from
RepDistiller's and SimKD's model files, independently of dckd_mm's
modules) on one random batch. What converts and what is refused, per
family and upstream format: ``docs/simkd_students.md``; the reference
models' facts: ``docs/reference_models.md``.
"""
import argparse
from collections import OrderedDict
from copy import deepcopy
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import torch
import torch.nn.functional as F
from mmengine.config import Config
from torch import Tensor

from ..compat.safe_loading import safe_load
from ..errors import ConversionError
from ..models.zoo import (CIFAR_ZOO, cifar_classifier_cfg, simkd_student_cfg,
                          simkd_tap)
from .checkpoint import describe_mismatch, extract_state_dict

__all__ = [
    'load_foreign_checkpoint', 'strip_prefixes', 'convert_repdistiller',
    'simkd_student_cfg', 'check_exact', 'convert_file', 'ConversionError',
    'upstream_forward', 'upstream_simkd_logits', 'self_check',
    'deploy_config', 'UPSTREAM_CIFAR100_MEAN', 'UPSTREAM_CIFAR100_STD',
    'convert_torchvision_resnet', 'torchvision_resnet_cfg'
]

# RepDistiller / SimKD CIFAR-100 input normalisation
# (transforms.Normalize after ToTensor), on the 0-255 scale.
UPSTREAM_CIFAR100_MEAN = [0.5071 * 255, 0.4867 * 255, 0.4408 * 255]
UPSTREAM_CIFAR100_STD = [0.2675 * 255, 0.2565 * 255, 0.2761 * 255]

# Self-check tolerance, relative to the largest reference logit.
_RTOL = 1e-4




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
    """:func:`extract_state_dict`, refusing with :class:`ConversionError`."""
    try:
        return extract_state_dict(ckpt)
    except ValueError as err:
        keys = sorted(map(str, ckpt))[:10]
        raise ConversionError(
            "no state dict found: expected a 'model' entry (RepDistiller, "
            f'CRD, mdistiller, SimKD) among the keys {keys}.') from err


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


def check_exact(converted: Mapping[str, Tensor],
                reference: Mapping[str, Tensor], what: str) -> None:
    """Refuse any missing/unexpected key or shape difference."""
    detail = describe_mismatch(converted, reference)
    if detail:
        raise ConversionError(
            f'the source does not convert exactly to {what}: {detail}. '
            'Check --arch (and --teacher-arch); nothing was written.')


# -- the upstream computation, rebuilt from the source tensors -------------
# Eval-mode forward passes written from RepDistiller's models/{resnet,
# resnetv2, wrn, vgg, mobilenetv2, ShuffleNetv1, ShuffleNetv2}.py and
# SimKD's models/{resnet, ShuffleNetv2}.py and models/util.py (class SimKD),
# on RepDistiller-layout state dicts. Structure that the tensors do not
# carry (strides) is RepDistiller's; block counts come from the keys.


class _Tensors:
    """Functional conv / BN / linear on a RepDistiller-layout state dict."""

    def __init__(self, state: Mapping[str, Tensor]) -> None:
        self.state = {k: v.float() if v.is_floating_point() else v
                      for k, v in state.items()}

    def has(self, prefix: str) -> bool:
        return prefix + '.weight' in self.state

    def conv(self, prefix: str, x: Tensor, stride: int = 1) -> Tensor:
        w = self.state[prefix + '.weight']
        return F.conv2d(x, w, self.state.get(prefix + '.bias'), stride,
                        w.shape[-1] // 2, 1, x.shape[1] // w.shape[1])

    def bn(self, prefix: str, x: Tensor) -> Tensor:
        s = self.state
        return F.batch_norm(x, s[prefix + '.running_mean'],
                            s[prefix + '.running_var'], s[prefix + '.weight'],
                            s[prefix + '.bias'], False, 0.0, 1e-5)

    def cbr(self, conv: str, bn: str, x: Tensor, stride: int = 1) -> Tensor:
        """conv -> BN -> ReLU."""
        return F.relu(self.bn(bn, self.conv(conv, x, stride)))

    def linear(self, prefix: str, x: Tensor) -> Tensor:
        return F.linear(x, self.state[prefix + '.weight'],
                        self.state[prefix + '.bias'])

    def indices(self, prefix: str) -> List[int]:
        """Sorted integer children of ``prefix`` (blocks of a layer)."""
        n = len(prefix) + 1
        return sorted({
            int(k[n:].split('.')[0])
            for k in self.state
            if k.startswith(prefix + '.') and k[n:].split('.')[0].isdigit()
        })


def _shuffle(x: Tensor, groups: int) -> Tensor:
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).permute(0, 2, 1, 3,
                                                        4).reshape(n, c, h, w)


def _ref_resnet(t: _Tensors, x: Tensor) -> Tuple[Tensor, Tensor]:
    x = t.cbr('conv1', 'bn1', x)
    for layer in (1, 2, 3):
        for i in t.indices(f'layer{layer}'):
            p = f'layer{layer}.{i}.'
            stride = 2 if layer > 1 and i == 0 else 1
            out = t.cbr(p + 'conv1', p + 'bn1', x, stride)
            out = t.bn(p + 'bn2', t.conv(p + 'conv2', out))
            if t.has(p + 'downsample.0'):
                x = t.bn(p + 'downsample.1',
                         t.conv(p + 'downsample.0', x, stride))
            x = F.relu(out + x)
    return x, x


def _ref_resnet50(t: _Tensors, x: Tensor) -> Tuple[Tensor, Tensor]:
    x = t.cbr('conv1', 'bn1', x)
    for layer in (1, 2, 3, 4):
        for i in t.indices(f'layer{layer}'):
            p = f'layer{layer}.{i}.'
            stride = 2 if layer > 1 and i == 0 else 1
            out = t.cbr(p + 'conv1', p + 'bn1', x)
            out = t.cbr(p + 'conv2', p + 'bn2', out, stride)
            out = t.bn(p + 'bn3', t.conv(p + 'conv3', out))
            if t.has(p + 'shortcut.0'):
                x = t.bn(p + 'shortcut.1', t.conv(p + 'shortcut.0', x,
                                                  stride))
            x = F.relu(out + x)
    return x, x


def _ref_wrn(t: _Tensors, x: Tensor) -> Tuple[Tensor, Tensor]:
    x = t.conv('conv1', x)
    for block in (1, 2, 3):
        for i in t.indices(f'block{block}.layer'):
            p = f'block{block}.layer.{i}.'
            stride = 2 if block > 1 and i == 0 else 1
            if t.has(p + 'convShortcut'):
                x = F.relu(t.bn(p + 'bn1', x))
                out, shortcut = x, t.conv(p + 'convShortcut', x, stride)
            else:
                out, shortcut = F.relu(t.bn(p + 'bn1', x)), x
            out = t.cbr(p + 'conv1', p + 'bn2', out, stride)
            x = shortcut + t.conv(p + 'conv2', out)
    # feat[-2] is block3's output; only the pooled map gets bn1 + ReLU
    return x, F.relu(t.bn('bn1', x))


def _ref_vgg(t: _Tensors, x: Tensor) -> Tuple[Tensor, Tensor]:
    side = x.shape[2]
    for b in range(5):
        if b in (1, 2, 3) or (b == 4 and side == 64):
            x = F.max_pool2d(x, 2, 2)
        for j in t.indices(f'block{b}')[::2]:  # conv j, BN j + 1
            x = t.cbr(f'block{b}.{j}', f'block{b}.{j + 1}', x)
    return x, x


_MOBILENET_STRIDES = (1, 1, 2, 2, 1, 2, 1)


def _ref_mobilenetv2(t: _Tensors, x: Tensor) -> Tuple[Tensor, Tensor]:
    x = t.cbr('conv1.0', 'conv1.1', x, 2)
    for k in t.indices('blocks'):
        for j in t.indices(f'blocks.{k}'):
            p = f'blocks.{k}.{j}.conv.'
            stride = _MOBILENET_STRIDES[k] if j == 0 else 1
            out = t.cbr(p + '0', p + '1', x)
            out = t.cbr(p + '3', p + '4', out, stride)
            out = t.bn(p + '7', t.conv(p + '6', out))
            x = x + out if stride == 1 and x.shape == out.shape else out
    # feat[-2] is blocks[6]'s output; conv2 only feeds the pooled map
    return x, t.cbr('conv2.0', 'conv2.1', x)


def _ref_shufflev1(t: _Tensors, x: Tensor) -> Tuple[Tensor, Tensor]:
    x = t.cbr('conv1', 'bn1', x)
    for layer in (1, 2, 3):
        for i in t.indices(f'layer{layer}'):
            p = f'layer{layer}.{i}.'
            stride = 2 if i == 0 else 1
            groups = x.shape[1] // t.state[p + 'conv1.weight'].shape[1]
            out = _shuffle(t.cbr(p + 'conv1', p + 'bn1', x), groups)
            out = t.cbr(p + 'conv2', p + 'bn2', out, stride)
            out = t.bn(p + 'bn3', t.conv(p + 'conv3', out))
            if stride == 2:
                x = torch.cat([out, F.avg_pool2d(x, 3, 2, 1)], 1)
            else:
                x = out + x
            x = F.relu(x)
    return x, x


def _ref_shufflev2(t: _Tensors, x: Tensor) -> Tuple[Tensor, Tensor]:
    x = t.cbr('conv1', 'bn1', x)
    for layer in (1, 2, 3):
        for i in t.indices(f'layer{layer}'):
            p = f'layer{layer}.{i}.'
            if t.has(p + 'conv4'):  # DownBlock
                left = t.bn(p + 'bn1', t.conv(p + 'conv1', x, 2))
                left = t.cbr(p + 'conv2', p + 'bn2', left)
                right = t.cbr(p + 'conv3', p + 'bn3', x)
                right = t.bn(p + 'bn4', t.conv(p + 'conv4', right, 2))
                right = t.cbr(p + 'conv5', p + 'bn5', right)
                x = _shuffle(torch.cat([left, right], 1), 2)
            else:  # BasicBlock, split ratio 0.5
                c = x.shape[1] // 2
                out = t.cbr(p + 'conv1', p + 'bn1', x[:, c:])
                out = t.bn(p + 'bn2', t.conv(p + 'conv2', out))
                out = t.cbr(p + 'conv3', p + 'bn3', out)
                x = _shuffle(torch.cat([x[:, :c], out], 1), 2)
    # feat[-2] is layer3's output; conv2/bn2 only feed the pooled map
    return x, t.cbr('conv2', 'bn2', x)


_REFERENCE: Dict[str, Callable[[_Tensors, Tensor], Tuple[Tensor, Tensor]]]
_REFERENCE = dict(
    resnet=_ref_resnet, resnet50=_ref_resnet50, wrn=_ref_wrn, vgg=_ref_vgg,
    mobilenetv2=_ref_mobilenetv2, shufflev1=_ref_shufflev1,
    shufflev2=_ref_shufflev2)


@torch.no_grad()
def upstream_forward(state: Mapping[str, Tensor], arch: str,
                     x: Tensor) -> Tuple[Tensor, Tensor]:
    """Upstream eval-mode forward of zoo model ``arch`` on its
    RepDistiller-layout ``state`` (no ``module.`` prefix).

    Args:
        state (Mapping[str, Tensor]): the upstream state dict.
        arch (str): the CIFAR zoo name.
        x (Tensor): ``(N, 3, H, W)`` normalised images.

    Returns:
        tuple[Tensor, Tensor]: SimKD's feature ``feat[-2]`` ``(N, C, h,
        w)`` and the logits ``(N, num_classes)``.
    """
    entry = CIFAR_ZOO[arch]
    t = _Tensors(state)
    feat, pooled_map = _REFERENCE[entry.family](t, x.float())
    return feat, t.linear(entry.classifier_key, pooled_map.mean((2, 3)))


@torch.no_grad()
def upstream_simkd_logits(student: Mapping[str, Tensor], student_arch: str,
                          proj: Mapping[str, Tensor],
                          teacher: Mapping[str, Tensor], teacher_arch: str,
                          x: Tensor) -> Tensor:
    """SimKD's student logits (``train_student.py``, ``models/util.py``):
    ``cls_t(avgpool(transfer(align(feat_s[-2], feat_t[-2]))))``.

    Args:
        student, teacher (Mapping[str, Tensor]): upstream state dicts.
        student_arch, teacher_arch (str): their zoo names.
        proj (Mapping[str, Tensor]): SimKD's ``'proj'`` (``transfer.*``).
        x (Tensor): ``(N, 3, H, W)`` normalised images.

    Returns:
        Tensor: ``(N, num_classes)``.
    """
    feat_s, _ = upstream_forward(student, student_arch, x)
    feat_t, _ = upstream_forward(teacher, teacher_arch, x)
    s_h, t_h = feat_s.shape[2], feat_t.shape[2]
    if s_h > t_h:
        feat_s = F.adaptive_avg_pool2d(feat_s, (t_h, t_h))
    p = _Tensors(proj)
    y = p.cbr('transfer.0', 'transfer.1', feat_s)
    y = p.cbr('transfer.3', 'transfer.4', y)
    y = p.cbr('transfer.6', 'transfer.7', y)
    cls = CIFAR_ZOO[teacher_arch].classifier_key
    return _Tensors(teacher).linear(cls, y.mean((2, 3)))


@torch.no_grad()
def self_check(model: torch.nn.Module, reference: Callable[[Tensor], Tensor],
               what: str, batch: int = 4, seed: int = 0) -> float:
    """Compare ``model``'s logits with ``reference`` on a random batch.

    Returns:
        float: the largest absolute logit difference.

    Raises:
        ConversionError: the difference exceeds ``1e-4`` of the largest
            reference logit (at least ``1e-4``).
    """
    x = torch.randn(batch, 3, 32, 32,
                    generator=torch.Generator().manual_seed(seed))
    model.eval()
    got = model(x, mode='tensor')
    expected = reference(x)
    if got.shape != expected.shape:
        raise ConversionError(
            f'logit self-check failed for {what}: the converted model '
            f'gives {tuple(got.shape)} logits, the upstream computation '
            f'{tuple(expected.shape)}; nothing was written.')
    diff = float((got - expected).abs().max())
    scale = max(1.0, float(expected.abs().max()))
    if not diff <= _RTOL * scale:  # also catches NaN
        raise ConversionError(
            f'logit self-check failed for {what}: the converted model and '
            'the upstream computation rebuilt from the source tensors '
            f'differ by {diff:.3g} (largest logit {scale:.3g}) on a random '
            'batch; nothing was written.')
    return diff


def _check_projector(proj: Mapping[str, Tensor], arch: str,
                     teacher_cls: Mapping[str, Tensor], teacher_arch: str,
                     src: str) -> None:
    """Refuse a SimKD projector that does not fit the student's tap or the
    teacher's classifier, naming the mismatch."""
    for key in ('transfer.0.weight', 'transfer.6.weight'):
        if key not in proj or proj[key].dim() != 4:
            raise ConversionError(
                f"{src}: 'proj' is not SimKD's projector (no 4-d {key}; "
                f'keys {sorted(proj)[:6]}); nothing was written.')
    tap = simkd_tap(arch)
    reads = proj['transfer.0.weight'].shape[1]
    if reads != tap.channels:
        raise ConversionError(
            f"{src}: the SimKD projector reads {reads} channels, but "
            f"SimKD's feature tap of {arch} ({tap.describe()}) has "
            f'{tap.channels}: the checkpoint was not trained on the map '
            'SimKD feeds its projector (or --arch is wrong); nothing was '
            'written.')
    gives = proj['transfer.6.weight'].shape[0]
    takes = teacher_cls['head.fc.weight'].shape[1]
    if gives != takes:
        raise ConversionError(
            f'{src}: the SimKD projector outputs {gives} channels, but the '
            f'classifier of teacher {teacher_arch} takes {takes} (check '
            '--teacher and --teacher-arch); nothing was written.')


def convert_file(src: str, arch: str, num_classes: int = 100,
                 part: Optional[str] = None,
                 teacher_src: Optional[str] = None,
                 teacher_arch: Optional[str] = None
                 ) -> Tuple[Dict[str, Tensor], dict, dict]:
    """Convert ``src`` exactly, or refuse; returns ``(state_dict,
    model_cfg, meta)``.

    A SimKD student file (with ``'proj'``) needs the teacher's file and
    arch: the deployed student uses the teacher's classifier. The result
    is loaded strictly into the zoo model and its logits are compared with
    :func:`upstream_forward` / :func:`upstream_simkd_logits` on the source
    tensors before anything is returned.

    Raises:
        ConversionError: with what does not match; nothing is returned.
    """
    from ..models.builder import build_model
    if arch not in CIFAR_ZOO:
        raise ConversionError(f'unknown arch {arch!r}; choose one of '
                              f'{sorted(CIFAR_ZOO)}.')
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
        what = arch

        def reference(x: Tensor) -> Tensor:
            return upstream_forward(state, arch, x)[1]
    else:
        if not (teacher_src and teacher_arch):
            raise ConversionError(
                f"{src} is a SimKD student (it has 'proj'): its classifier "
                'is the teacher\'s, so pass --teacher TEACHER.pth '
                '--teacher-arch NAME too.')
        if teacher_arch not in CIFAR_ZOO:
            raise ConversionError(
                f'unknown teacher arch {teacher_arch!r}; choose one of '
                f'{sorted(CIFAR_ZOO)}.')
        if not isinstance(proj, Mapping):
            raise ConversionError(f"{src}: 'proj' is a "
                                  f'{type(proj).__name__}, not a state dict.')
        proj = strip_prefixes(proj)
        t_state = strip_prefixes(
            _model_state(load_foreign_checkpoint(teacher_src)))
        t_out = convert_repdistiller(t_state, teacher_arch)
        check_exact(
            t_out,
            build_model(cifar_classifier_cfg(teacher_arch,
                                             num_classes)).state_dict(),
            f'teacher {teacher_arch}')
        try:
            cfg = simkd_student_cfg(arch, teacher_arch, num_classes)
        except ValueError as err:
            raise ConversionError(f'{err} Nothing was written.') from err
        _check_projector(proj, arch, t_out, teacher_arch, src)
        out = convert_repdistiller(state, arch, proj)
        # the student's own (unused) classifier is dropped ...
        out = OrderedDict((k, v) for k, v in out.items()
                          if not k.startswith('head.fc.'))
        # ... and the teacher's is used.
        out['head.fc.weight'] = t_out['head.fc.weight']
        out['head.fc.bias'] = t_out['head.fc.bias']
        # SimKD pools a larger student map to the teacher's feat[-2] size
        t_side = int(upstream_forward(t_state, teacher_arch,
                                      torch.zeros(1, 3, 32, 32))[0].shape[-1])
        out['head.target_hw'] = torch.tensor([t_side, t_side])
        what = f'SimKD student {arch} (teacher {teacher_arch})'
        meta.update(teacher_source=teacher_src, teacher_arch=teacher_arch)

        def reference(x: Tensor) -> Tensor:
            return upstream_simkd_logits(state, arch, proj, t_state,
                                         teacher_arch, x)
    if num_classes == 100:
        meta['dataset_meta'] = _cifar100_meta()
    model = build_model(cfg)
    check_exact(out, model.state_dict(), f'{what} ({cfg["head"]["type"]})')
    model.load_state_dict(out, strict=True)
    meta['self_check_max_abs_diff'] = self_check(model, reference, what)
    return out, cfg, meta


def _cifar100_meta() -> dict:
    from mmpretrain.datasets.categories import CIFAR100_CATEGORIES
    return dict(classes=list(CIFAR100_CATEGORIES))


def deploy_config(model_cfg: dict, num_classes: int = 100) -> Config:
    """A complete mmpretrain config for a converted CIFAR model.

    The model gets RepDistiller's/SimKD's input normalisation (mean/std of
    ``transforms.Normalize`` on the 0-255 scale), so that
    ``mmpretrain.apis.init_model`` / ``ImageClassificationInferencer``
    give the upstream model's predictions on raw ``uint8`` images in
    CIFAR-100's channel order (RGB, ``(32, 32, 3)`` arrays); the test
    pipeline and dataloader read CIFAR-100's test split.
    """
    model = deepcopy(model_cfg)
    model['type'] = model['type'].split('.')[-1]
    model['data_preprocessor'] = dict(
        type='ClsDataPreprocessor',
        num_classes=num_classes,
        mean=list(UPSTREAM_CIFAR100_MEAN),
        std=list(UPSTREAM_CIFAR100_STD),
        to_rgb=False)
    test_pipeline = [dict(type='PackInputs')]
    return Config(
        dict(
            default_scope='mmpretrain',
            custom_imports=dict(
                imports=['dckd_mm'], allow_failed_imports=False),
            model=model,
            test_pipeline=test_pipeline,
            test_dataloader=dict(
                batch_size=64,
                num_workers=2,
                dataset=dict(
                    type='SafeCIFAR100',
                    data_root='data/cifar100',
                    split='test',
                    pipeline=test_pipeline),
                sampler=dict(type='DefaultSampler', shuffle=False)),
            test_evaluator=dict(type='Accuracy', topk=(1, 5)),
            test_cfg=dict()))


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
