# Copyright (c) dckd_mm contributors. All rights reserved.
"""The runs through the real entry points (tools/train.py, tools/test.py
run in-process on the session's digits SimKD + DCKD run, ``trained`` in
conftest.py): strict test checkpoints, no silent random teacher. Resume is
in test_resume.py, paths with spaces in test_cli.py, the error surface in
test_errors.py."""
import pytest
import torch

import dckd_mm  # noqa: F401
from dckd_mm.apis import check_teacher, load_config
from tests.helpers import run_tool


# -- strict tools/test.py --
def test_test_tool_scores_a_matching_checkpoint(trained, tmp_path):
    res = run_tool('tools/test.py', trained['cfg'], trained['ckpt'],
                   '--work-dir', str(tmp_path / 't'))
    assert res.returncode == 0, res.stderr[-3000:]
    assert 'accuracy/top1' in res.stdout


def test_test_tool_refuses_a_checkpoint_that_does_not_fit(trained,
                                                          tmp_path):
    """The teacher file (or another architecture) used to be scored after
    a warning buried in the log, exit 0."""
    res = run_tool('tools/test.py', trained['cfg'], trained['teacher'],
                   '--work-dir', str(tmp_path / 't'))
    assert res.returncode == 2
    assert res.stderr.startswith('error: checkpoint')
    assert 'missing key(s)' in res.stderr and 'unexpected key(s)' in \
        res.stderr
    assert 'accuracy' not in res.stdout
    assert not (tmp_path / 't').exists()


# -- the teacher is never random by accident --
@pytest.mark.parametrize('value', ['', 'None'])
def test_empty_teacher_ckpt_is_refused(trained, tmp_path, value):
    work = tmp_path / 'w'
    res = run_tool('tools/train.py', trained['cfg'], '--work-dir', str(work),
                   '--cfg-options', f'model.teacher_ckpt={value}')
    assert res.returncode == 2
    assert 'randomly initialised' in res.stderr
    assert '--teacher-from-scratch' in res.stderr
    assert not work.exists()


def test_teacher_from_scratch_is_explicit(trained):
    cfg = load_config(trained['cfg'], teacher_from_scratch=True)
    cfg.model.teacher_ckpt = ''
    check_teacher(cfg)  # allowed, and '' becomes None for the model
    assert cfg.model.teacher_ckpt is None
    cfg = load_config(trained['cfg'], teacher_from_scratch=True)
    with pytest.raises(ValueError, match='contradict'):
        check_teacher(cfg)


def test_nan_teacher_is_refused_at_load(trained, tmp_path):
    state = torch.load(trained['teacher'])['state_dict']
    key = next(k for k in state if k.endswith('conv1.weight'))
    state[key][0] = float('nan')
    bad = str(tmp_path / 'nan teacher.pth')
    torch.save({'state_dict': state}, bad)
    res = run_tool('tools/train.py', trained['cfg'], '--work-dir',
                   str(tmp_path / 'w'), '--teacher-ckpt', bad)
    assert res.returncode == 2
    assert 'NaN or Inf' in res.stderr and key in res.stderr
    assert not (tmp_path / 'w').exists()
