# Copyright (c) dckd_mm contributors. All rights reserved.
"""DCKD for two-stage detectors: the teacher's RoI head classifies the
student's sampled RoIs.

Logit distillation of a detector's RoI classifier only compares like with
like when teacher and student classify the same boxes (as mdistiller's and
detectron2's DKD for detection do): the student runs as usual (its RPN,
sampling and detection losses stay), its sampled RoIs and their assigned
labels (background = ``num_classes``) are captured, the frozen teacher runs
its backbone and neck on the same images and its RoI extractor and bbox head
on those RoIs, and DCKD compares the ``(num_rois, C + 1)`` softmax logits.
Feature losses on FPN levels go through the distiller's recorders and
connectors, as in any mmrazor config. Predict mode is the student alone.
"""
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Optional

import torch
from mmrazor.models.algorithms import SingleTeacherDistill
from mmrazor.models.utils import add_prefix
from mmrazor.registry import MODELS
from torch import Tensor, nn

from ...utils.checkpoint import load_model_strict

__all__ = ['RoIDCKDDistill', 'check_softmax_roi_detector']

SUPPORTED = ('two-stage detectors with a StandardRoIHead whose bbox head '
             'classifies with a softmax (CrossEntropyLoss, use_sigmoid=False),'
             ' i.e. the Faster R-CNN family')


def check_softmax_roi_detector(model: nn.Module, what: str) -> nn.Module:
    """Return the bbox head of ``model`` or refuse with a clear error."""
    roi_head = getattr(model, 'roi_head', None)
    bbox_head = getattr(roi_head, 'bbox_head', None)
    if roi_head is None or bbox_head is None or not hasattr(
            roi_head, '_bbox_forward'):
        raise TypeError(
            f'RoIDCKDDistill: the {what} ({type(model).__name__}) has no '
            f'RoI bbox head. DCKD is softmax-based; supported: {SUPPORTED}. '
            'One-stage detectors with sigmoid classifiers (RetinaNet, FCOS, '
            '...) are refused.')
    loss_cls = getattr(bbox_head, 'loss_cls', None)
    if getattr(loss_cls, 'use_sigmoid', False) or getattr(
            bbox_head, 'custom_cls_channels', False):
        raise TypeError(
            f'RoIDCKDDistill: the {what} RoI head classifies with a sigmoid '
            f'({type(loss_cls).__name__}); DCKD needs softmax logits over '
            f'C + 1 classes. Supported: {SUPPORTED}.')
    return bbox_head


@MODELS.register_module()
class RoIDCKDDistill(SingleTeacherDistill):
    """DCKD between the RoI classifiers of a student and a teacher detector
    on the student's sampled RoIs.

    Args:
        roi_loss (dict): loss on ``(preds_S, preds_T, gt_labels)`` of the
            RoI classifiers. Defaults to ``dict(type='DCKDLoss')``.
        teacher_ckpt (str, optional): loaded strictly with safe loading.
        **kwargs: :class:`SingleTeacherDistill` arguments (``architecture``,
            ``teacher``, ``distiller`` for feature losses).
    """

    def __init__(self,
                 *args: Any,
                 roi_loss: Optional[dict] = None,
                 teacher_ckpt: Optional[str] = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, teacher_ckpt=None, **kwargs)
        if teacher_ckpt:
            load_model_strict(self.teacher, teacher_ckpt)
            self.teacher._is_init = True
        s_head = check_softmax_roi_detector(self.student, 'student')
        t_head = check_softmax_roi_detector(self.teacher, 'teacher')
        if s_head.num_classes != t_head.num_classes:
            raise ValueError(
                f'student ({s_head.num_classes}) and teacher '
                f'({t_head.num_classes}) detectors have different '
                'num_classes: set both bbox heads to the dataset\'s classes.')
        cfg = dict(roi_loss or dict(type='DCKDLoss'))
        cfg.setdefault('_scope_', 'mmrazor')
        self.roi_loss = MODELS.build(cfg)
        self.last_roi_logits: Dict[str, Tensor] = {}

    @contextmanager
    def _capture_sampling(self, store: Dict[str, Any]) -> Iterator[None]:
        """Record the student's ``bbox_loss`` inputs and outputs."""
        roi_head = self.student.roi_head
        original = roi_head.bbox_loss

        def bbox_loss(x: tuple, sampling_results: List) -> dict:
            results = original(x, sampling_results)
            store['sampling_results'] = sampling_results
            store['cls_score'] = results['cls_score']
            return results

        roi_head.bbox_loss = bbox_loss
        try:
            yield
        finally:
            del roi_head.bbox_loss

    def train(self, mode: bool = True) -> None:
        super().train(mode)
        if not self.teacher_trainable:
            self.teacher.eval()

    def loss(self, batch_inputs: Tensor,
             data_samples: Optional[list] = None) -> Dict[str, Tensor]:
        from mmdet.structures.bbox import bbox2roi
        self.teacher.eval()
        with torch.no_grad(), self.distiller.teacher_recorders:
            t_feats = self.teacher.extract_feat(batch_inputs)
        store: Dict[str, Any] = {}
        with self._capture_sampling(store), \
                self.distiller.student_recorders:
            student_losses = self.student.loss(batch_inputs, data_samples)
        losses = add_prefix(student_losses, 'student')
        sampling = store['sampling_results']
        rois = bbox2roi([res.priors for res in sampling])
        roi_head = self.student.roi_head
        labels = roi_head.bbox_head.get_targets(
            sampling, roi_head.train_cfg, concat=True)[0]
        with torch.no_grad():
            t_cls = self.teacher.roi_head._bbox_forward(t_feats,
                                                        rois)['cls_score']
        s_cls = store['cls_score']
        self.last_roi_logits = dict(
            rois=rois.detach(), student=s_cls.detach(), teacher=t_cls,
            labels=labels)
        distill = self.distiller.compute_distill_losses()
        distill['loss_roi_dckd'] = self.roi_loss(s_cls, t_cls, labels)
        losses.update(add_prefix(distill, 'distill'))
        return losses
