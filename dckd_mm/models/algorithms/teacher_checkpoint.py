# Copyright (c) dckd_mm contributors. All rights reserved.
"""The teacher-checkpoint rules of a distillation algorithm, in one place.

A distillation model answers three questions about its frozen teacher:

* how the teacher is restored: :meth:`TeacherCheckpoint.restore_teacher`
  loads ``teacher_ckpt`` strictly (safe loading, no key, shape or NaN
  mismatch);
* what goes into a checkpoint, and so what a checkpoint must hold to fit
  the model: :meth:`~TeacherCheckpoint.fitting_states` (the teacher's
  weights unless the algorithm leaves them out, as ``RoIDCKDDistill``
  does by default);
* how a saved teacher is verified: :meth:`~TeacherCheckpoint.
  verify_saved_teacher` compares a checkpoint's ``teacher.*`` tensors
  bitwise with the teacher the model was built with.

``SimKDDistill`` mixes in :class:`TeacherCheckpoint`; ``RoIDCKDDistill``
mixes in :class:`FingerprintedTeacher`, which can leave the teacher out of
checkpoints and saves a fingerprint of it instead, checked on load. A
plain mmrazor
``SingleTeacherDistill`` gets the default rules through
:func:`teacher_checkpoint_rules`. The launcher (``dckd_mm.apis``) only
calls these methods.
"""
from typing import Any, Dict, Mapping, Optional, Tuple

import torch
from torch import Tensor

from ...errors import CheckpointError
from ...utils.checkpoint import load_model_strict

__all__ = [
    'TeacherCheckpoint', 'FingerprintedTeacher', 'teacher_checkpoint_rules',
    'TEACHER_PREFIX'
]

TEACHER_PREFIX = 'teacher.'

StateDict = Dict[str, Tensor]


def _without_teacher(state: Mapping[str, Tensor]) -> StateDict:
    return {k: v for k, v in state.items()
            if not k.startswith(TEACHER_PREFIX)}


class TeacherCheckpoint:
    """Mixin of a distillation algorithm with a ``teacher`` submodule: the
    rules its checkpoints follow for the teacher.

    The methods use only ``self.teacher`` and ``self.state_dict()``.
    """

    teacher: torch.nn.Module

    def restore_teacher(self, teacher_ckpt: Optional[str]) -> bool:
        """Load the teacher's weights from ``teacher_ckpt``, strictly.

        Args:
            teacher_ckpt (str, optional): the teacher checkpoint; nothing
                is loaded when it is empty or None.

        Returns:
            bool: whether a teacher checkpoint was loaded.

        Raises:
            MissingFileError, CheckpointError, CorruptCheckpointError,
            UntrustedCheckpointError: as
                :func:`dckd_mm.utils.checkpoint.load_model_strict`.
        """
        if not teacher_ckpt:
            return False
        load_model_strict(self.teacher, teacher_ckpt)
        self.teacher._is_init = True
        return True

    def teacher_in_checkpoints(self) -> bool:
        """Whether checkpoints of this model carry the teacher's weights.

        Returns:
            bool: True by default (mmengine saves the whole state dict).
        """
        return True

    def fitting_states(self, state: Mapping[str, Tensor],
                       need_teacher: bool = True
                       ) -> Tuple[StateDict, StateDict]:
        """A checkpoint's state dict and the model state it must match.

        The teacher's keys are compared only when they are needed (testing
        runs the student alone) and saved (otherwise they come from
        ``teacher_ckpt``).

        Args:
            state (Mapping[str, Tensor]): the checkpoint's state dict.
            need_teacher (bool): whether the teacher's weights must come
                from the checkpoint (resuming) or not (testing).

        Returns:
            Tuple[dict, dict]: the state to compare, and the reference (the
            model's state dict) to compare it with.
        """
        reference = dict(self.state_dict())
        state = dict(state)
        if not need_teacher or not self.teacher_in_checkpoints():
            state, reference = (_without_teacher(state),
                                _without_teacher(reference))
        return state, reference

    def verify_saved_teacher(self, state: Mapping[str, Tensor], path: str,
                             teacher_ckpt: Any) -> None:
        """The teacher in a resume checkpoint must equal ``teacher_ckpt``
        (this model was just built from it): a changed file or flipped
        bytes are reported, never used silently. A checkpoint without the
        teacher's weights is left to the model's own load check.

        Args:
            state (Mapping[str, Tensor]): the checkpoint's state dict.
            path (str): the checkpoint, for the message.
            teacher_ckpt (Any): the config's ``model.teacher_ckpt``; no
                check without one (nothing to compare with).

        Raises:
            CheckpointError: a ``teacher.*`` tensor differs or is missing.
        """
        if not teacher_ckpt:
            return
        ref = {
            TEACHER_PREFIX + k: v
            for k, v in self.teacher.state_dict().items()
        }
        if not any(k in state for k in ref):
            return
        differ = [
            k for k, v in ref.items()
            if k not in state or not torch.equal(state[k].cpu(), v.cpu())
        ]
        if differ:
            raise CheckpointError(
                f'--resume: the teacher in {path} differs from '
                f'model.teacher_ckpt={teacher_ckpt!r} in '
                f'{len(differ)} tensor(s), e.g. {differ[:4]}. Either the '
                'resume checkpoint is damaged or teacher_ckpt is not the '
                'file the run started with. Resume with the original '
                'teacher, or start a new run in another work dir for a new '
                'teacher.')


class FingerprintedTeacher(TeacherCheckpoint):
    """:class:`TeacherCheckpoint` for a teacher that checkpoints may leave
    out: they then hold a per-tensor fingerprint of it
    (``teacher_fingerprint``), and loading one puts back the teacher this
    model was built with once the fingerprints agree.

    The algorithm calls :meth:`track_teacher` at the end of its
    ``__init__``, after setting ``teacher_loaded`` (whether the teacher
    came from a ``teacher_ckpt``).
    """

    teacher_loaded: bool
    save_teacher: bool
    teacher_fingerprint: Tensor

    def track_teacher(self, save_teacher: bool) -> None:
        """Register the fingerprint buffer and the checkpoint hooks.

        Args:
            save_teacher (bool): keep the teacher's weights in the
                checkpoints; otherwise they hold only its fingerprint.
        """
        self.save_teacher = save_teacher
        self.register_buffer('teacher_fingerprint', self._fingerprint())
        if not self.save_teacher:
            self._register_state_dict_hook(_drop_teacher)
        self._register_load_state_dict_pre_hook(self._fill_teacher)

    def teacher_in_checkpoints(self) -> bool:
        """Whether checkpoints carry the teacher's weights.

        Returns:
            bool: ``save_teacher``.
        """
        return self.save_teacher

    def fitting_states(self, state: Mapping[str, Tensor],
                       need_teacher: bool = True
                       ) -> Tuple[StateDict, StateDict]:
        """As :meth:`TeacherCheckpoint.fitting_states`; a checkpoint saved
        before checkpoints carried a fingerprint gets this model's.

        Args:
            state (Mapping[str, Tensor]): the checkpoint's state dict.
            need_teacher (bool): whether the teacher's weights must come
                from the checkpoint.

        Returns:
            Tuple[dict, dict]: the state to compare and the reference.
        """
        state, reference = super().fitting_states(state, need_teacher)
        self._backfill_fingerprint(state)
        return state, reference

    def _fingerprint(self) -> Tensor:
        """Per-tensor float64 sums of the teacher's weights: saved with
        every checkpoint, compared when one is loaded."""
        return torch.stack([
            v.detach().double().sum().cpu()
            for v in self.teacher.state_dict().values()
        ])

    def _backfill_fingerprint(self, state: dict, prefix: str = '') -> None:
        """Give a checkpoint saved before fingerprints existed this
        model's fingerprint."""
        if state.get(prefix + 'teacher_fingerprint') is None:
            state[prefix + 'teacher_fingerprint'] = self.teacher_fingerprint

    def _fill_teacher(self, state_dict: dict, prefix: str, *args: Any) -> None:
        """Load hook: a checkpoint saved without the teacher gets the
        teacher this model was built with (from ``teacher_ckpt``), once
        the saved fingerprint shows it is the same teacher."""
        key = prefix + 'teacher_fingerprint'
        own = {
            prefix + TEACHER_PREFIX + k: v
            for k, v in self.teacher.state_dict().items()
        }
        saved = state_dict.get(key)
        self._backfill_fingerprint(state_dict, prefix)
        if any(k in state_dict for k in own):
            return  # a checkpoint with the teacher's weights
        own_print = self.teacher_fingerprint.cpu()
        if saved is not None and self.teacher_loaded and (
                saved.shape != own_print.shape or not torch.allclose(
                    saved.double().cpu(), own_print, rtol=1e-9, atol=1e-6)):
            raise CheckpointError(
                'the checkpoint was trained with another teacher than '
                'model.teacher_ckpt (their weight fingerprints differ): '
                'resume with the teacher checkpoint the run started with. '
                'To start a new run from its student with another teacher, '
                'export the student (tools/model_converters/'
                'export_student.py) and start from it with '
                'model.architecture.init_cfg=dict(type=\'Pretrained\', '
                'checkpoint=EXPORTED).')
        state_dict.update(own)
        if not self.teacher_loaded:  # test: the teacher is not used
            state_dict[key] = self.teacher_fingerprint


def _drop_teacher(module: torch.nn.Module, state_dict: dict, prefix: str,
                  local_metadata: Any) -> None:
    """State-dict hook: leave the frozen teacher out of checkpoints."""
    for key in [
            k for k in state_dict if k.startswith(prefix + TEACHER_PREFIX)
    ]:
        del state_dict[key]


class _DefaultRules(TeacherCheckpoint):
    """The default rules for a distillation model that does not mix in
    :class:`TeacherCheckpoint` (a plain mmrazor ``SingleTeacherDistill``:
    its checkpoints hold everything)."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.teacher = model.teacher
        self.state_dict = model.state_dict


def teacher_checkpoint_rules(model: Any) -> Optional[TeacherCheckpoint]:
    """The teacher-checkpoint rules of ``model``.

    Args:
        model (Any): a built model (unwrapped from DDP).

    Returns:
        TeacherCheckpoint, optional: the model itself when it mixes in
        :class:`TeacherCheckpoint`, the default rules for another model
        with a ``teacher`` (plain mmrazor ``SingleTeacherDistill``), None
        for a model without a teacher.
    """
    if isinstance(model, TeacherCheckpoint):
        return model
    if isinstance(getattr(model, 'teacher', None), torch.nn.Module):
        return _DefaultRules(model)
    return None
