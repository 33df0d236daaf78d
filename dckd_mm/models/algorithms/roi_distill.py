# Copyright (c) dckd_mm contributors. All rights reserved.
"""DCKD for two-stage detectors: the teacher's RoI head classifies the
student's sampled RoIs.

Logit distillation of a detector's RoI classifier only compares like with
like when teacher and student classify the same boxes, as mdistiller's DKD
for detection does (``detection/model/rcnn.py``): the student runs as usual
(its RPN, sampling and detection losses stay), mmrazor method recorders
capture the inputs and outputs of its RoI head's ``bbox_loss`` (the sampled
RoIs, their labels with background = ``num_classes``, and the logits), the
frozen teacher runs only its backbone and neck (as in mmrazor's
``FpnTeacherDistill``) on the same images normalised its own way, then its
RoI extractor and bbox head on those RoIs, and DCKD compares the
``(num_rois, C + 1)`` logits. Feature losses on FPN levels go through the
distiller's recorders, as in any mmrazor config. Predict mode is the student
alone. The method and its checks are written up in ``docs/detection.md``.
"""
from typing import Any, Dict, List, Optional

import torch
from mmengine.structures import BaseDataElement
from mmrazor.models.algorithms import FpnTeacherDistill
from mmrazor.models.task_modules import RecorderManager
from mmrazor.models.utils import add_prefix
from mmrazor.registry import MODELS
from torch import Tensor

from ...errors import ConfigError
from .. import detection as det
from .teacher_checkpoint import FingerprintedTeacher

__all__ = ['RoIDCKDDistill']

_STAGES = ('all', 'last')


@MODELS.register_module()
class RoIDCKDDistill(FingerprintedTeacher, FpnTeacherDistill):
    """DCKD between the RoI classifiers of a student and a teacher detector
    on the student's sampled RoIs.

    Args:
        roi_loss (dict): loss on ``(preds_S, preds_T, gt_labels)`` of the
            RoI classifiers, ``(num_rois, C + 1)`` logits and
            ``(num_rois,)`` labels. Defaults to mdistiller's detection
            values, ``dict(type='DCKDLoss', tau=1.0, alpha=1.0,
            beta=0.25)``.
        teacher_ckpt (str, optional): loaded strictly with safe loading.
        cascade_stages (str): for Cascade R-CNN, ``'all'`` (default)
            distils every stage's logits on that stage's student RoIs with
            the teacher's head of the same stage, each weighted by the
            student's ``stage_loss_weights`` like its cross-entropy;
            ``'last'`` distils only the last stage.
        save_teacher (bool): keep the frozen teacher's weights in saved
            checkpoints. Defaults to False: checkpoints hold the student
            (and a per-tensor fingerprint of the teacher), and the teacher
            is reloaded from ``teacher_ckpt`` when a run resumes. Always
            True without a ``teacher_ckpt`` (nothing could restore it).
            These rules are :class:`FingerprintedTeacher`'s.
        student_from_scratch (bool): allow a student backbone without
            pretrained weights (then it must not freeze stages or BN
            statistics). Defaults to False.
        check_pyramid (bool): measure each FPN level's stride at build time
            and refuse levels that disagree with the anchors, the RoI
            extractor or the other detector. Defaults to True.
        **kwargs: :class:`SingleTeacherDistill` arguments
            (``architecture``, ``teacher``, ``distiller`` for feature
            losses, ``calculate_student_loss``). ``teacher_trainable=True``
            and ``student_trainable=False`` are refused: the teacher here
            is frozen and only the student learns.
    """

    def __init__(self,
                 *args: Any,
                 roi_loss: Optional[dict] = None,
                 teacher_ckpt: Optional[str] = None,
                 cascade_stages: str = 'all',
                 save_teacher: bool = False,
                 student_from_scratch: bool = False,
                 check_pyramid: bool = True,
                 **kwargs: Any) -> None:
        if kwargs.get('teacher_trainable', False):
            raise ConfigError(
                'RoIDCKDDistill distils from a frozen teacher; '
                'teacher_trainable=True is not supported (it would need a '
                'teacher loss, which this algorithm does not compute).')
        if not kwargs.get('student_trainable', True):
            raise ConfigError(
                'RoIDCKDDistill: student_trainable=False leaves nothing to '
                'train; drop it.')
        if cascade_stages not in _STAGES:
            raise ConfigError(f'cascade_stages={cascade_stages!r}: choose '
                              f'one of {_STAGES}.')
        super().__init__(*args, teacher_ckpt=None, **kwargs)
        self.teacher_loaded = self.restore_teacher(teacher_ckpt)
        self.roi_layout = det.roi_head_layout(self.student, 'student')
        self.kind = self.roi_layout.kind
        t_kind = det.roi_head_layout(self.teacher, 'teacher').kind
        s_heads = det.bbox_heads(self.student)
        t_heads = det.bbox_heads(self.teacher)
        if t_kind != self.kind or len(s_heads) != len(t_heads):
            raise TypeError(
                f'student ({self.kind}, {len(s_heads)} stage(s)) and teacher '
                f'({t_kind}, {len(t_heads)} stage(s)) RoI heads differ: each '
                'student stage is distilled from the teacher stage of the '
                f'same index. Supported: {det.SUPPORTED}.')
        for s_head, t_head in zip(s_heads, t_heads):
            if s_head.num_classes != t_head.num_classes:
                raise ConfigError(
                    f'student ({s_head.num_classes}) and teacher '
                    f'({t_head.num_classes}) detectors have different '
                    'num_classes: set both bbox heads to the dataset\'s '
                    'classes.')
        self.cascade_stages = cascade_stages
        # the stages whose logits are distilled ('last': a standard head's
        # only stage, a cascade's final one)
        self.distilled_stages = frozenset(
            range(len(s_heads)) if cascade_stages == 'all' else
            (len(s_heads) - 1, ))
        self.student_from_scratch = student_from_scratch
        det.check_student_init(self.student, student_from_scratch)
        if check_pyramid:
            det.check_pyramid(self.student, self.teacher)
        self.student_norm = det.normalisation(self.data_preprocessor)
        self.teacher_norm = det.check_preprocessors(
            self.data_preprocessor, self.teacher.data_preprocessor)
        cfg = dict(roi_loss or dict(
            type='DCKDLoss', tau=1.0, alpha=1.0, beta=0.25))
        cfg.setdefault('_scope_', 'mmrazor')
        self.roi_loss = MODELS.build(cfg)
        # one recorder per method: two on the same method would replace
        # each other's patch
        self.roi_recorders = RecorderManager(
            dict(
                inputs=dict(
                    type='MethodInputs',
                    source=_method_source(self.student.roi_head,
                                          'bbox_loss')),
                logits=dict(
                    type='MethodOutputs',
                    source=_method_source(self.student.roi_head,
                                          '_bbox_forward'))))
        self.roi_recorders.initialize(self.student)
        # a teacher that no teacher_ckpt can restore (from scratch, or
        # initialised by its own init_cfg) must stay in the checkpoints
        self.track_teacher(save_teacher or not teacher_ckpt)

    # ------------------------------------------------------------------
    # training
    def init_weights(self) -> None:
        """Resolve the student's pretrained files (no download; a clear
        error when missing), refuse one whose keys do not fit, then run
        mmengine's initialisation."""
        for module in (self.student, self.student.backbone):
            for init_cfg in det.pretrained_cfgs(module, nested=False):
                init_cfg['checkpoint'] = det.resolve_pretrained(
                    str(init_cfg['checkpoint']))
                det.check_loaded(module, init_cfg, init_cfg['checkpoint'])
        super().init_weights()

    def teacher_inputs(self, batch_inputs: Tensor,
                       data_samples: Optional[List[BaseDataElement]]
                       ) -> Tensor:
        """The batch as the teacher's own ``data_preprocessor`` would
        normalise it (the student's when they agree)."""
        if self.teacher_norm is None:
            return batch_inputs
        shapes = [s.metainfo['img_shape'][:2] for s in data_samples or []]
        if len(shapes) != batch_inputs.shape[0]:
            shapes = [batch_inputs.shape[-2:]] * batch_inputs.shape[0]
        return det.renormalise(batch_inputs, shapes, self.student_norm,
                               self.teacher_norm)

    def loss(self, batch_inputs: Tensor,
             data_samples: Optional[List[BaseDataElement]] = None
             ) -> Dict[str, Tensor]:
        """Student losses (``student.*``, unless
        ``calculate_student_loss=False``), the distiller's feature losses
        and the RoI DCKD loss (``distill.*``, none after mmrazor's
        ``StopDistillHook`` set ``distillation_stopped``)."""
        if self.distillation_stopped:
            losses = self.student(batch_inputs, data_samples, mode='loss')
            return add_prefix(losses, 'student') \
                if self.calculate_student_loss else {}
        self.distiller.set_deliveries_override(False)
        t_inputs = self.teacher_inputs(batch_inputs, data_samples)
        with self.distiller.teacher_recorders, self.distiller.deliveries, \
                torch.no_grad():
            t_feats = self.teacher.extract_feat(t_inputs)
        self.distiller.set_deliveries_override(True)
        with self.distiller.student_recorders, self.distiller.deliveries, \
                self.roi_recorders:
            student_losses = self.student(
                batch_inputs, data_samples, mode='loss')
        losses = {}
        if self.calculate_student_loss:
            losses.update(add_prefix(student_losses, 'student'))
        distill = self.distiller.compute_distill_losses()
        distill.update(self.roi_losses(t_feats))
        losses.update(add_prefix(distill, 'distill'))
        return losses

    def roi_losses(self, t_feats: tuple) -> Dict[str, Tensor]:
        """DCKD on each ``bbox_loss`` call of the student's RoI head (one
        per stage): its sampled RoIs and their labels (recorded inputs),
        its logits (the recorded output of the ``_bbox_forward`` inside
        it), and the teacher head of the same stage on the same RoIs, each
        weighted as the student's RoI head weighs that stage."""
        from mmdet.structures.bbox import bbox2roi
        calls = self.roi_recorders.get_recorder('inputs').data_buffer
        outputs = self.roi_recorders.get_recorder('logits').data_buffer
        heads = det.bbox_heads(self.student)
        # a cascade stops early when a stage leaves no proposals
        if len(calls) != len(outputs) or not 1 <= len(calls) <= len(heads):
            raise RuntimeError(
                f'the student RoI head ran bbox_loss {len(calls)} and '
                f'_bbox_forward {len(outputs)} time(s) in one step; '
                f'{len(heads)} expected.')
        layout = self.roi_layout
        roi_head = self.student.roi_head
        losses: Dict[str, Tensor] = {}
        for call, out in zip(calls, outputs):
            stage, sampling = layout.stage_call(call)
            if stage not in self.distilled_stages:
                continue
            rois = bbox2roi([res.priors for res in sampling])
            labels = heads[stage].get_targets(
                sampling, layout.train_cfg(roi_head, stage), concat=True)[0]
            with torch.no_grad():
                t_cls = layout.bbox_forward(self.teacher.roi_head, stage,
                                            t_feats, rois)['cls_score']
            losses[layout.loss_name(stage)] = self.roi_loss(
                out['cls_score'], t_cls, labels) * layout.loss_weight(
                    roi_head, stage)
        # release the recorded features until the next step
        for recorder in self.roi_recorders.recorders.values():
            recorder.reset_data_buffer()
        return losses


def _method_source(obj: Any, name: str) -> str:
    """``'module.Class.name'`` of the class in ``type(obj)``'s MRO that
    defines the method, as mmrazor's method recorders take it."""
    owner = det.defining_class(obj, name)
    return f'{owner.__module__}.{owner.__name__}.{name}'
