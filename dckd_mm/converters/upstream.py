# Copyright (c) dckd_mm contributors. All rights reserved.
"""The upstream computation, rebuilt from the source tensors.

Eval-mode forward passes written from RepDistiller's models/{resnet,
resnetv2, wrn, vgg, mobilenetv2, ShuffleNetv1, ShuffleNetv2}.py and
SimKD's models/{resnet, ShuffleNetv2}.py and models/util.py (class SimKD),
on RepDistiller-layout state dicts, independently of dckd_mm's modules:
the converter's self-check (:mod:`.verify`) compares the converted model
with them. Structure that the tensors do not carry (strides) is
RepDistiller's; block counts come from the keys. The seven families share
one functional toolkit (:class:`_Tensors`), so they stay in one module
(about 250 lines).
"""
from typing import Callable, Dict, List, Mapping, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from ..models.zoo import CIFAR_ZOO

__all__ = ['upstream_forward', 'upstream_simkd_logits']


class _Tensors:
    """Functional conv / BN / linear on a RepDistiller-layout state dict."""

    def __init__(self, state: Mapping[str, Tensor]) -> None:
        self.state = {k: v.float() if v.is_floating_point() else v
                      for k, v in state.items()}

    def has(self, prefix: str) -> bool:
        """Whether a layer ``prefix`` with a weight is in the state."""
        return prefix + '.weight' in self.state

    def conv(self, prefix: str, x: Tensor, stride: int = 1) -> Tensor:
        """Conv ``prefix`` with same padding; groups from the shapes."""
        w = self.state[prefix + '.weight']
        return F.conv2d(x, w, self.state.get(prefix + '.bias'), stride,
                        w.shape[-1] // 2, 1, x.shape[1] // w.shape[1])

    def bn(self, prefix: str, x: Tensor) -> Tensor:
        """Eval-mode BatchNorm ``prefix`` (eps 1e-5, as PyTorch's)."""
        s = self.state
        return F.batch_norm(x, s[prefix + '.running_mean'],
                            s[prefix + '.running_var'], s[prefix + '.weight'],
                            s[prefix + '.bias'], False, 0.0, 1e-5)

    def cbr(self, conv: str, bn: str, x: Tensor, stride: int = 1) -> Tensor:
        """conv -> BN -> ReLU."""
        return F.relu(self.bn(bn, self.conv(conv, x, stride)))

    def linear(self, prefix: str, x: Tensor) -> Tensor:
        """Linear layer ``prefix``."""
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
    """ShuffleNet's channel shuffle."""
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
