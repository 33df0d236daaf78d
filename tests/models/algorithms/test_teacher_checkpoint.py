# Copyright (c) dckd_mm contributors. All rights reserved.
"""The teacher-checkpoint rules of the distillation algorithms: how the
teacher is restored, what a checkpoint must hold, how a saved teacher is
verified; the fingerprint variant on a toy model, the default rules on a
plain mmrazor SingleTeacherDistill."""
import pytest
import torch
from mmengine.config import Config
from torch import nn

import dckd_mm  # noqa: F401
from dckd_mm.errors import CheckpointError
from dckd_mm.models.algorithms import SimKDDistill
from dckd_mm.models.algorithms.teacher_checkpoint import (
    FingerprintedTeacher, TeacherCheckpoint, teacher_checkpoint_rules)
from tests.helpers import build_model, save_teacher_ckpt

SIMKD = 'configs/demo/dckd_resnet20_resnet8_1xb64_digits.py'
KD = 'configs/demo/kd_resnet20_resnet8_1xb64_digits.py'


def _built(config: str, tmp_path) -> nn.Module:
    model = Config.fromfile(config).model.to_dict()
    path = str(tmp_path / 'teacher.pth')
    save_teacher_ckpt(model['teacher'], path)
    model['teacher_ckpt'] = path
    return build_model(model, 'mmrazor')


def _teacher_keys(state) -> list:
    return [k for k in state if k.startswith('teacher.')]


def test_simkd_restores_and_verifies_its_teacher(tmp_path):
    algo = _built(SIMKD, tmp_path)
    assert isinstance(algo, SimKDDistill)
    assert teacher_checkpoint_rules(algo) is algo
    saved = torch.load(tmp_path / 'teacher.pth')['state_dict']
    for k, v in algo.teacher.state_dict().items():
        assert torch.equal(v, saved[k]), k
    assert algo.restore_teacher(None) is False
    assert algo.teacher_in_checkpoints()
    state = algo.state_dict()
    fit, ref = algo.fitting_states(state)
    assert fit.keys() == ref.keys() == state.keys() and _teacher_keys(fit)
    fit, ref = algo.fitting_states(state, need_teacher=False)
    assert fit.keys() == ref.keys() and not _teacher_keys(ref)
    algo.verify_saved_teacher(state, 'run.pth', 'teacher.pth')
    key = next(k for k in _teacher_keys(state) if k.endswith('conv1.weight'))
    flipped = dict(state, **{key: state[key] + 1})
    with pytest.raises(CheckpointError, match='differs from') as info:
        algo.verify_saved_teacher(flipped, 'run.pth', 'teacher.pth')
    assert key in str(info.value) and 'run.pth' in str(info.value)
    # nothing to compare with: no teacher_ckpt, or no teacher saved
    algo.verify_saved_teacher(flipped, 'run.pth', None)
    algo.verify_saved_teacher(
        {k: v for k, v in flipped.items() if k not in _teacher_keys(state)},
        'run.pth', 'teacher.pth')


def test_plain_single_teacher_distill_gets_the_default_rules(tmp_path):
    algo = _built(KD, tmp_path)
    assert type(algo).__name__ == 'SingleTeacherDistill'
    rules = teacher_checkpoint_rules(algo)
    assert isinstance(rules, TeacherCheckpoint) and rules is not algo
    assert rules.teacher_in_checkpoints()
    state = algo.state_dict()
    fit, ref = rules.fitting_states(state, need_teacher=False)
    assert not _teacher_keys(fit) and fit.keys() == ref.keys()
    key = _teacher_keys(state)[0]
    with pytest.raises(CheckpointError, match=key):
        rules.verify_saved_teacher(dict(state, **{key: state[key] + 1}),
                                   'run.pth', 'teacher.pth')
    assert teacher_checkpoint_rules(nn.Linear(2, 2)) is None


class Toy(FingerprintedTeacher, nn.Module):
    """A distiller in miniature: a student and a frozen teacher."""

    def __init__(self, save_teacher: bool, loaded: bool = True) -> None:
        super().__init__()
        self.student = nn.Linear(3, 2)
        self.teacher = nn.Linear(3, 2)
        self.teacher_loaded = loaded
        self.track_teacher(save_teacher)


def test_fingerprinted_teacher_leaves_the_teacher_out():
    torch.manual_seed(0)
    toy = Toy(save_teacher=False)
    assert not toy.teacher_in_checkpoints()
    state = toy.state_dict()
    assert not _teacher_keys(state) and 'teacher_fingerprint' in state
    # a fresh model with the same teacher takes the checkpoint
    other = Toy(save_teacher=False)
    other.teacher.load_state_dict(toy.teacher.state_dict())
    other.teacher_fingerprint.copy_(other._fingerprint())
    other.load_state_dict(state, strict=True)
    assert torch.equal(other.student.weight, toy.student.weight)
    # another teacher is refused
    stranger = Toy(save_teacher=False)
    with pytest.raises(CheckpointError, match='another teacher'):
        stranger.load_state_dict(state, strict=True)
    # testing (no teacher file loaded): the checkpoint loads anyway
    Toy(save_teacher=False, loaded=False).load_state_dict(state, strict=True)


def test_fingerprinted_teacher_fits_old_and_full_checkpoints():
    toy = Toy(save_teacher=True)
    assert toy.teacher_in_checkpoints()
    state = toy.state_dict()
    assert _teacher_keys(state)
    old = {k: v for k, v in state.items() if k != 'teacher_fingerprint'}
    fit, ref = toy.fitting_states(old)
    assert fit.keys() == ref.keys()
    assert torch.equal(fit['teacher_fingerprint'], toy.teacher_fingerprint)
    toy.load_state_dict(old, strict=True)
    student_only = {k: v for k, v in state.items()
                    if k not in _teacher_keys(state)}
    fit, ref = toy.fitting_states(student_only)
    assert set(ref) - set(fit) == set(_teacher_keys(state))
    fit, ref = toy.fitting_states(student_only, need_teacher=False)
    assert fit.keys() == ref.keys()
