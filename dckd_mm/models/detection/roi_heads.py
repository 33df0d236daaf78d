# Copyright (c) dckd_mm contributors. All rights reserved.
"""Which two-stage RoI heads DCKD can distil, and how each stage of one is
reached.

:func:`roi_head_layout` refuses heads that sample or classify differently
from mmdet's ``StandardRoIHead`` and ``CascadeRoIHead``, and returns the
:class:`RoIHeadLayout` of the others: a standard head is a cascade of one
stage, so :class:`RoIDCKDDistill` distils both with one loop over stages.
"""
from typing import Any, Dict, List, Optional, Sequence, Tuple

from torch import Tensor, nn

__all__ = [
    'SUPPORTED', 'defining_class', 'RoIHeadLayout', 'roi_head_layout',
    'bbox_heads'
]

SUPPORTED = ('two-stage detectors whose RoI head is a StandardRoIHead '
             '(Faster R-CNN, Mask R-CNN) or a CascadeRoIHead (Cascade '
             'R-CNN, Cascade Mask R-CNN) and whose bbox heads classify with '
             'a softmax (CrossEntropyLoss, use_sigmoid=False)')


def defining_class(obj: Any, name: str) -> Optional[type]:
    """The class in ``type(obj)``'s MRO that defines ``name``."""
    for cls in type(obj).__mro__:
        if name in vars(cls):
            return cls
    return None


class RoIHeadLayout:
    """How the stages of one family of mmdet RoI heads are called: the
    standard head's single stage, or a cascade's ``num_stages``.

    A layout holds no model; each method takes the RoI head it reads.

    Attributes:
        kind (str): ``'standard'`` or ``'cascade'``.
    """

    kind = ''

    def stage_call(self, args: Sequence[Any]) -> Tuple[int, list]:
        """``(stage, sampling_results)`` of the positional arguments of one
        recorded ``bbox_loss`` call."""
        raise NotImplementedError

    def train_cfg(self, roi_head: nn.Module, stage: int) -> Any:
        """The ``rcnn`` train config of ``stage`` (its sampler, targets)."""
        raise NotImplementedError

    def loss_weight(self, roi_head: nn.Module, stage: int) -> float:
        """The weight ``roi_head`` gives ``stage``'s losses."""
        raise NotImplementedError

    def loss_name(self, stage: int) -> str:
        """The name of the RoI DCKD loss of ``stage``."""
        raise NotImplementedError

    def bbox_forward(self, roi_head: nn.Module, stage: int,
                     feats: Sequence[Tensor],
                     rois: Tensor) -> Dict[str, Tensor]:
        """``roi_head``'s ``_bbox_forward`` of ``stage`` on ``rois``
        (``cls_score`` holds the ``(num_rois, C + 1)`` logits)."""
        raise NotImplementedError


class _StandardLayout(RoIHeadLayout):
    """``StandardRoIHead``: ``bbox_loss(x, sampling_results)``, one
    stage."""

    kind = 'standard'

    def stage_call(self, args: Sequence[Any]) -> Tuple[int, list]:
        return 0, args[1]

    def train_cfg(self, roi_head: nn.Module, stage: int) -> Any:
        return roi_head.train_cfg

    def loss_weight(self, roi_head: nn.Module, stage: int) -> float:
        return 1.0

    def loss_name(self, stage: int) -> str:
        return 'loss_roi_dckd'

    def bbox_forward(self, roi_head: nn.Module, stage: int,
                     feats: Sequence[Tensor],
                     rois: Tensor) -> Dict[str, Tensor]:
        return roi_head._bbox_forward(feats, rois)


class _CascadeLayout(RoIHeadLayout):
    """``CascadeRoIHead``: ``bbox_loss(stage, x, sampling_results)``,
    weighted by ``stage_loss_weights``."""

    kind = 'cascade'

    def stage_call(self, args: Sequence[Any]) -> Tuple[int, list]:
        return int(args[0]), args[2]

    def train_cfg(self, roi_head: nn.Module, stage: int) -> Any:
        return roi_head.train_cfg[stage]

    def loss_weight(self, roi_head: nn.Module, stage: int) -> float:
        return float(roi_head.stage_loss_weights[stage])

    def loss_name(self, stage: int) -> str:
        return f'loss_roi_dckd_s{stage}'

    def bbox_forward(self, roi_head: nn.Module, stage: int,
                     feats: Sequence[Tensor],
                     rois: Tensor) -> Dict[str, Tensor]:
        return roi_head._bbox_forward(stage, feats, rois)


def roi_head_layout(model: nn.Module, what: str) -> RoIHeadLayout:
    """How ``model``'s RoI head samples and classifies, or a ``TypeError``
    that names what is supported.

    A head qualifies when its ``bbox_loss`` and ``_bbox_forward`` are
    mmdet's own ``StandardRoIHead`` ones (subclasses that only add a mask
    head, such as Mask R-CNN's, qualify) or ``CascadeRoIHead`` ones, and
    every bbox head classifies with a softmax over ``C + 1`` classes.
    Heads that override either method (HTC, Sparse R-CNN, Grid R-CNN,
    PISA, ...) sample or classify differently and are refused rather than
    distilled wrongly.

    Args:
        model (nn.Module): an mmdet detector.
        what (str): ``'student'`` or ``'teacher'``, for the messages.

    Raises:
        TypeError: no RoI bbox head, an overriding head or a sigmoid
            classifier.
    """
    from mmdet.models.roi_heads import CascadeRoIHead, StandardRoIHead
    layouts = {StandardRoIHead: _StandardLayout,
               CascadeRoIHead: _CascadeLayout}
    name = type(model).__name__
    roi_head = getattr(model, 'roi_head', None)
    if roi_head is None or getattr(roi_head, 'bbox_head', None) is None:
        raise TypeError(
            f'RoIDCKDDistill: the {what} ({name}) has no RoI bbox head. '
            f'DCKD is softmax-based; supported: {SUPPORTED}. One-stage '
            'detectors with sigmoid classifiers (RetinaNet, FCOS, ...) are '
            'refused.')
    owner = defining_class(roi_head, 'bbox_loss')
    if owner not in layouts or defining_class(roi_head,
                                              '_bbox_forward') is not owner:
        raise TypeError(
            f'RoIDCKDDistill: the {what} ({name}) has a '
            f'{type(roi_head).__name__} that overrides bbox_loss or '
            '_bbox_forward, so its sampled RoIs and logits cannot be matched '
            f'with the other detector\'s. Supported: {SUPPORTED}.')
    for head in bbox_heads(model):
        loss_cls = getattr(head, 'loss_cls', None)
        if getattr(loss_cls, 'use_sigmoid', False) or getattr(
                head, 'custom_cls_channels', False):
            raise TypeError(
                f'RoIDCKDDistill: the {what} RoI head classifies with a '
                f'sigmoid ({type(loss_cls).__name__}); DCKD needs softmax '
                f'logits over C + 1 classes. Supported: {SUPPORTED}.')
    return layouts[owner]()


def bbox_heads(model: nn.Module) -> List[nn.Module]:
    """The bbox head of each stage of ``model.roi_head`` (one for a
    standard head, ``num_stages`` for a cascade)."""
    heads = model.roi_head.bbox_head
    return list(heads) if isinstance(heads, nn.ModuleList) else [heads]
