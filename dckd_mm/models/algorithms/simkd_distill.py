# Copyright (c) dckd_mm contributors. All rights reserved.
"""SimKD-style distillation: the student reuses the teacher's classifier.

Chen et al., CVPR 2022 ("Knowledge distillation with the reused teacher
classifier"); DCKD (Wang et al., PLOS ONE 2025) adds its logit loss on top.
"""
from typing import Any, Dict, Optional, Tuple, Union

import torch
from mmrazor.models.algorithms import SingleTeacherDistill
from mmrazor.registry import MODELS
from torch import Tensor, nn

from ...errors import ConfigError, ConfigTypeError
from ..heads.simkd_head import SimKDClsHead
from .teacher_checkpoint import TeacherCheckpoint
from .teacher_classifier import TeacherClassifier, find_teacher_classifier

__all__ = ['SimKDDistill']


@MODELS.register_module()
class SimKDDistill(TeacherCheckpoint, SingleTeacherDistill):
    """Single-teacher distillation where the student's logits come from the
    teacher's frozen classifier applied to its projected features.

    The student is an mmpretrain ``ImageClassifier`` whose head is a
    :class:`SimKDClsHead` (projector + copy of the teacher classifier); the
    distiller's losses see its outputs through ordinary recorders, so
    ``SimKDFeatureLoss``, ``DCKDLoss`` and any mmrazor loss on intermediate
    features mix in one config. Per step:

    1. the frozen teacher (eval mode, no gradient) runs; its last feature
       map's size, when it is a 4-D map, is stored in the student head
       (``target_hw``);
    2. the student backbone runs; the projector runs once on its last map
       (average-pooled to the teacher's size if larger);
    3. the pooled projection ``(N, D)`` goes through the copied teacher
       classifier: the student's logits, in training, validation and test
       alike.

    The teacher's classifier is found from its head
    (:func:`~dckd_mm.models.algorithms.teacher_classifier.
    find_teacher_classifier`): ``head.fc`` of a ``LinearClsHead``,
    ``head.layers.head`` of a ``VisionTransformerClsHead`` without
    ``hidden_dim``; any other head is refused with a ``ConfigError``
    before anything else is built. What the SimKD feature loss compares
    depends on the teacher:

    * a CNN teacher (``LinearClsHead`` after global pooling): SimKD's own
      loss, the projected student map ``head.projector`` against the
      teacher's last backbone map, both ``(N, D, H, W)``;
    * a transformer teacher (ViT/DeiT cls token into
      ``VisionTransformerClsHead``): the classifier's input is the cls
      token ``(N, D)``, not a pooled map, so the loss compares the two
      classifier inputs, ``head.fc`` of the student (the pooled projection)
      and ``head.layers.head`` of the teacher (recorders ``ModuleInputs``,
      ``data_idx=0``). Aligning exactly what the reused classifier reads is
      SimKD's intent; the teacher's patch tokens are not what its
      classifier reads. The projector should then end without ReLU
      (``SimKDProjector(out_act=False)``): a normalised token has negative
      entries.

    The student's own task loss is off (``calculate_student_loss=False``):
    SimKD/DCKD train with the distillation losses only. Checkpoints keep
    the teacher's weights; the rules for restoring and verifying them are
    :class:`TeacherCheckpoint`'s. Recorders on modules that the student or
    the teacher lacks (``head.fc`` of a ViT teacher) are refused with a
    ``ConfigError`` naming the classifier's real path.

    Args:
        teacher_ckpt (str, optional): teacher checkpoint, loaded strictly
            (safe loading; any key or shape mismatch is an error).
        calculate_student_loss (bool): Defaults to False.
        **kwargs: see :class:`SingleTeacherDistill`.
    """

    def __init__(self,
                 *args: Any,
                 teacher_ckpt: Optional[str] = None,
                 calculate_student_loss: bool = False,
                 **kwargs: Any) -> None:
        _check_student_head(kwargs.get('architecture'))
        # Build both models first, so that the teacher's head and every
        # recorder's module are checked before mmrazor attaches recorders.
        for key in ('architecture', 'teacher'):
            if isinstance(kwargs.get(key), dict):
                kwargs[key] = MODELS.build(kwargs[key])
        if isinstance(kwargs.get('teacher'), nn.Module):
            classifier = find_teacher_classifier(kwargs['teacher'])
            _check_recorder_sources(kwargs.get('distiller'),
                                    kwargs.get('architecture'),
                                    kwargs['teacher'], classifier)
        super().__init__(
            *args,
            teacher_ckpt=None,
            calculate_student_loss=calculate_student_loss,
            **kwargs)
        self.teacher_ckpt = teacher_ckpt
        self.restore_teacher(teacher_ckpt)
        head = self.student.head
        t_cls = find_teacher_classifier(self.teacher)
        if t_cls.shape != tuple(head.fc.weight.shape):
            raise ConfigError(
                'the student head cannot reuse the teacher classifier: '
                f'teacher classifier {t_cls.path} ({t_cls.head_type}) is '
                f'{t_cls.shape} (classes, channels), student SimKDClsHead '
                f'fc is {tuple(head.fc.weight.shape)}. Set the student '
                "head's num_classes and in_channels to the teacher's.")
        self.teacher.backbone.register_forward_hook(self._record_teacher_hw)
        self._sync_classifier()

    # -- helpers -----------------------------------------------------------
    @torch.no_grad()
    def _sync_classifier(self) -> None:
        """Copy the teacher classifier into the student head and freeze."""
        t_fc = find_teacher_classifier(self.teacher).linear
        s_fc = self.student.head.fc
        s_fc.weight.copy_(t_fc.weight)
        if t_fc.bias is not None:
            s_fc.bias.copy_(t_fc.bias)
        else:
            s_fc.bias.zero_()
        for p in s_fc.parameters():
            p.requires_grad_(False)

    def _record_teacher_hw(self, module: nn.Module, inputs: Any,
                           outputs: Union[Tensor, Tuple[Tensor, ...]]
                           ) -> None:
        feat = outputs[-1] if isinstance(outputs, (tuple, list)) else outputs
        if isinstance(feat, Tensor) and feat.dim() == 4:
            self.student.head.set_target_hw(tuple(feat.shape[-2:]))

    # -- mmengine hooks ------------------------------------------------------
    def init_weights(self) -> None:
        """Initialise, then re-copy the teacher classifier (mmengine's
        ``init_weights`` would otherwise re-draw the student head's fc)."""
        super().init_weights()
        self._sync_classifier()

    def train(self, mode: bool = True) -> 'SimKDDistill':
        """The teacher stays in eval mode (BN statistics, dropout)."""
        super().train(mode)
        if not self.teacher_trainable:
            self.teacher.eval()
        return self

    def loss(self, batch_inputs: Tensor,
             data_samples: Optional[list] = None) -> Dict[str, Tensor]:
        if not self.teacher_trainable:
            self.teacher.eval()
        return super().loss(batch_inputs, data_samples)


def _check_student_head(architecture: Any) -> None:
    """Refuse, before recorders are attached, a student config whose head
    is not a :class:`SimKDClsHead`."""
    if isinstance(architecture, dict):
        head = architecture.get('head') or {}
        head_type = head.get('type') if isinstance(head, dict) else head
        if isinstance(head_type, str):
            ok = head_type.split('.')[-1] == 'SimKDClsHead'
        else:
            ok = isinstance(head_type, type) and issubclass(
                head_type, SimKDClsHead)
    else:
        ok = isinstance(getattr(architecture, 'head', None), SimKDClsHead)
    if not ok:
        found = head_type if isinstance(architecture, dict) else type(
            getattr(architecture, 'head', None)).__name__
        raise ConfigTypeError(
            'SimKDDistill needs a student whose head is a SimKDClsHead '
            f'(projector + reused teacher classifier), got {found!r}. Use '
            "SingleTeacherDistill for plain logit distillation.")


_MODULE_RECORDERS = ('ModuleOutputs', 'ModuleInputs', 'ModuleOutputsRecorder',
                     'ModuleInputsRecorder')


def _check_recorder_sources(distiller: Any, student: Any, teacher: nn.Module,
                            classifier: TeacherClassifier) -> None:
    """Refuse a module recorder whose source the model lacks, naming where
    the classifiers are (mmrazor would stop on a bare assertion)."""
    if not isinstance(distiller, dict):
        return
    sides = (('student', student, 'the SimKD head records head.projector '
              '(projected map), head.fc (logits; its input is the pooled '
              'projection)'),
             ('teacher', teacher, 'its classifier is '
              f'{classifier.describe()}'))
    for side, model, hint in sides:
        if not isinstance(model, nn.Module):
            continue
        modules = dict(model.named_modules())
        for name, rec in (distiller.get(f'{side}_recorders') or {}).items():
            if not isinstance(rec, dict):
                continue
            kind = str(rec.get('type', '')).split('.')[-1]
            source = rec.get('source')
            if kind in _MODULE_RECORDERS and source not in modules:
                raise ConfigError(
                    f'distiller.{side}_recorders.{name}: the {side} has no '
                    f'module {source!r} ({hint}). Point the recorder at a '
                    f'module of the {side}.')
