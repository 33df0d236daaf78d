# Copyright (c) dckd_mm contributors. All rights reserved.
"""Where a teacher's classifier is: the one linear layer SimKD reuses.

SimKD (Chen et al., CVPR 2022) and DCKD on top of it give the student the
teacher's own classifier: ``logits_S = W_T f + b_T`` for the pooled projected
student feature ``f``. That needs a teacher whose logits are one linear
layer applied to one feature vector, the classifier's input, shape
``(N, D)``. Per mmpretrain head kind:

* ``LinearClsHead`` (and subclasses keeping its ``forward``): the
  classifier is ``head.fc``; its input is the neck's output (for a CNN the
  global average of the last map).
* ``VisionTransformerClsHead`` with ``hidden_dim=None``: the classifier is
  ``head.layers.head``; its input is the cls token after the backbone's
  final norm.
* ``VisionTransformerClsHead`` with ``hidden_dim``: refused, its
  classifier is ``Linear -> Tanh -> Linear``.
* ``DeiTClsHead``: refused, its logits average two classifiers over two
  tokens (cls and dist).
* any other head: refused.

A refused head raises a :class:`~dckd_mm.errors.ConfigTypeError` (a
``ConfigError``) naming the head type, what was found and what is
supported. Every single-label mmpretrain head can still be a teacher for
DCKD as a plain logit loss (``SingleTeacherDistill`` with recorders on the
heads' outputs, ``source='head'``): that route needs no classifier to
reuse.
"""
from dataclasses import dataclass
from typing import Optional

from mmpretrain.models.heads import (DeiTClsHead, LinearClsHead,
                                     VisionTransformerClsHead)
from torch import nn

from ...errors import ConfigTypeError

__all__ = ['TeacherClassifier', 'find_teacher_classifier', 'SUPPORTED']

SUPPORTED = ("LinearClsHead (classifier at head.fc) and "
             "VisionTransformerClsHead without hidden_dim (classifier at "
             "head.layers.head)")


@dataclass(frozen=True)
class TeacherClassifier:
    """The teacher's classifier, as SimKD reuses it.

    Attributes:
        head_type (str): the head's class name, e.g. ``'LinearClsHead'``.
        path (str): the classifier's module path inside the teacher model,
            e.g. ``'head.fc'``: the recorder source of the teacher's logits
            (``ModuleOutputs``) and of its classifier input
            (``ModuleInputs``, ``data_idx=0``).
        linear (nn.Linear): the classifier, ``(C, D)`` weight.
    """

    head_type: str
    path: str
    linear: nn.Linear

    @property
    def shape(self) -> tuple:
        """``(classes, in_features)`` of the classifier."""
        return tuple(self.linear.weight.shape)

    def describe(self) -> str:
        """e.g. ``"head.layers.head of VisionTransformerClsHead, (10, 32)"``.
        """
        return f'{self.path} of {self.head_type}, {self.shape}'


def find_teacher_classifier(teacher: nn.Module) -> TeacherClassifier:
    """Find the one linear classifier of an mmpretrain classifier.

    Args:
        teacher (nn.Module): an ``ImageClassifier`` (anything with a
            ``head``).

    Returns:
        TeacherClassifier: where the classifier is and the layer itself.

    Raises:
        ConfigTypeError: the head is not one linear layer over one feature
            (the module docstring's table says which heads are refused and
            why).
    """
    head = getattr(teacher, 'head', None)
    kind = type(head).__name__
    if isinstance(head, DeiTClsHead):
        # checked before VisionTransformerClsHead, its base class
        _refuse(kind, 'layers.head and layers.head_dist, whose logits are '
                'averaged over the cls and the dist token: two classifiers '
                'over two features, not one', 'Use a non-distilled DeiT '
                "(mmpretrain's deit-tiny/small/base use "
                'VisionTransformerClsHead) or DCKD as a logit loss')
    if isinstance(head, VisionTransformerClsHead):
        if head.hidden_dim is not None:
            _refuse(kind, f'hidden_dim={head.hidden_dim}: the classifier '
                    'is layers.pre_logits -> act -> layers.head, not one '
                    'linear layer', 'Use a head without hidden_dim or DCKD '
                    'as a logit loss')
        return _found(kind, 'head.layers.head',
                      getattr(head.layers, 'head', None))
    if isinstance(head, LinearClsHead):
        if type(head).forward is not LinearClsHead.forward:
            _refuse(kind, 'its own forward (a LinearClsHead subclass whose '
                    'logits need not be fc(pre_logits))', 'Keep '
                    "LinearClsHead's forward or use DCKD as a logit loss")
        return _found(kind, 'head.fc', getattr(head, 'fc', None))
    _refuse(kind, 'no classifier SimKD can reuse' if head is not None else
            'no head', 'DCKD as a logit loss works with any head')
    raise AssertionError('unreachable')  # pragma: no cover


def _found(kind: str, path: str,
           linear: Optional[nn.Module]) -> TeacherClassifier:
    if not isinstance(linear, nn.Linear):
        _refuse(kind, f'{path} is {type(linear).__name__}, not nn.Linear',
                'Keep the head\'s classifier an nn.Linear')
    return TeacherClassifier(kind, path, linear)


def _refuse(kind: str, found: str, advice: str) -> None:
    raise ConfigTypeError(
        f'SimKDDistill reuses the teacher\'s classifier, one linear layer; '
        f'the teacher head is {kind} with {found}. Supported: {SUPPORTED}. '
        f'{advice} (SingleTeacherDistill with recorders on the heads\' '
        "outputs, source='head').")
