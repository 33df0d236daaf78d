# Copyright (c) dckd_mm contributors. All rights reserved.
"""Reliability through the real entry points (tools/train.py, tools/test.py
run in-process on the digits SimKD + DCKD pair): strict test checkpoints,
no silent random teacher, resume only exact, paths with spaces, one error
surface."""
import os.path as osp
import shutil

import pytest
import torch
from mmengine.config import Config

import dckd_mm  # noqa: F401
from dckd_mm.apis import is_user_error, load_config
from dckd_mm.apis.launch import check_loss_options, check_teacher, preflight
from tests.helpers import run_name, run_tool, save_teacher_ckpt, write_cifar100

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DIGITS = osp.join(ROOT, 'configs/demo/dckd_resnet20_resnet8_1xb64_digits.py')


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """A tiny config (100 images, 4 iterations an epoch, 2 epochs), its
    teacher, and a work dir holding epoch_1.pth of a 1-epoch run."""
    tmp = tmp_path_factory.mktemp('rel')
    teacher = str(tmp / 'teacher.pth')
    cfg = tmp / 'cfg.py'
    cfg.write_text(
        f"_base_ = ['{DIGITS}']\n"
        "train_pipeline = [dict(type='PackInputs')]\n"
        "train_dataloader = dict(batch_size=25, dataset=dict(indices=100, "
        "pipeline=train_pipeline))\n"
        "test_dataloader = dict(dataset=dict(indices=50))\n"
        "val_dataloader = dict(dataset=dict(indices=50))\n"
        "train_cfg = dict(max_epochs=2, val_interval=100)\n"
        "default_hooks = dict(checkpoint=dict(interval=1))\n"
        f"model = dict(teacher_ckpt='{teacher}')\n"
        "log_level = 'WARNING'\n")
    save_teacher_ckpt(Config.fromfile(str(cfg)).model.teacher.to_dict(),
                      teacher)
    work = tmp / 'work'
    res = run_tool('tools/train.py', str(cfg), '--work-dir', str(work),
                   '--cfg-options', 'train_cfg.max_epochs=1')
    assert res.returncode == 0, res.stderr[-3000:]
    return dict(cfg=str(cfg), teacher=teacher, work=str(work),
                ckpt=str(work / 'epoch_1.pth'), tmp=tmp)


def resume_dir(trained, tmp_path, ckpt=None) -> str:
    """A work dir whose last_checkpoint names a copy of ``ckpt``."""
    work = tmp_path / 'resume'
    work.mkdir()
    target = str(work / 'epoch_1.pth')
    if ckpt is None:
        shutil.copy(trained['ckpt'], target)
    else:
        torch.save(ckpt, target)
    (work / 'last_checkpoint').write_text(target)
    return str(work)


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


# -- resume is exact or refused --
def test_resume_checks_the_teacher(trained, tmp_path):
    """Flipped bytes in the resume checkpoint's teacher used to load
    silently."""
    ckpt = torch.load(trained['ckpt'], weights_only=False)
    key = next(k for k in ckpt['state_dict']
               if k.startswith('teacher.') and k.endswith('conv1.weight'))
    ckpt['state_dict'][key] = ckpt['state_dict'][key] + 1.0
    work = resume_dir(trained, tmp_path, ckpt)
    res = run_tool('tools/train.py', trained['cfg'], '--work-dir', work,
                   '--resume')
    assert res.returncode == 2
    assert 'differs from model.teacher_ckpt' in res.stderr
    assert key in res.stderr


def test_resume_with_another_teacher_ckpt_is_reported(trained, tmp_path):
    """A new teacher_ckpt passed on resume used to be ignored silently."""
    other = str(tmp_path / 'other.pth')
    save_teacher_ckpt(Config.fromfile(trained['cfg']).model.teacher.to_dict(),
                      other, seed=1)
    work = resume_dir(trained, tmp_path)
    res = run_tool('tools/train.py', trained['cfg'], '--work-dir', work,
                   '--resume', '--teacher-ckpt', other)
    assert res.returncode == 2
    assert 'differs from model.teacher_ckpt' in res.stderr


def test_resume_from_weights_only_file_is_refused(trained, tmp_path):
    """Used to fail with KeyError: 'epoch' (or reset the optimizer)."""
    best = tmp_path / 'best_accuracy_top1_epoch_1.pth'
    ckpt = torch.load(trained['ckpt'], weights_only=False)
    torch.save({'meta': ckpt['meta'], 'state_dict': ckpt['state_dict']},
               best)
    for path in (trained['teacher'], str(best)):
        res = run_tool('tools/train.py', trained['cfg'], '--work-dir',
                       str(tmp_path / 'w'), '--resume', path)
        assert res.returncode == 2
        assert 'cannot resume a run' in res.stderr
        assert 'load_from' in res.stderr


def test_resume_with_changed_architecture_is_explained(trained, tmp_path):
    work = resume_dir(trained, tmp_path)
    res = run_tool('tools/train.py', trained['cfg'], '--work-dir', work,
                   '--resume', '--cfg-options',
                   'model.architecture.backbone.arch=resnet14')
    assert res.returncode == 2
    assert 'does not fit the model' in res.stderr
    assert '--resume needs the config the run was started with' in \
        res.stderr


def test_resume_with_nothing_to_resume(trained, tmp_path):
    """Used to print 'Auto resumed from the latest checkpoint None' and
    train from epoch 0 with exit 0."""
    work = tmp_path / 'empty'
    work.mkdir()
    (work / 'best_accuracy_top1_epoch_3.pth').write_bytes(
        open(trained['teacher'], 'rb').read())
    res = run_tool('tools/train.py', trained['cfg'], '--work-dir', str(work),
                   '--resume')
    assert res.returncode == 2
    assert 'no complete checkpoint with optimizer state' in res.stderr
    assert '--start-over' in res.stderr
    assert not (work / 'epoch_1.pth').exists()


def test_resume_start_over_when_asked(trained, tmp_path):
    work = tmp_path / 'fresh'
    res = run_tool('tools/train.py', trained['cfg'], '--work-dir', str(work),
                   '--resume', '--start-over', '--cfg-options',
                   'train_cfg.max_epochs=1')
    assert res.returncode == 0, res.stderr[-3000:]
    assert (work / 'epoch_1.pth').exists()


# -- paths with spaces --
def test_spaces_in_cfg_options_are_refused(trained, tmp_path):
    work = tmp_path / 'w'
    res = run_tool('tools/train.py', trained['cfg'], '--work-dir', str(work),
                   '--cfg-options', 'model.teacher_ckpt=/tmp/dir with '
                   'spaces/t.pth')
    assert res.returncode == 2
    assert 'contains a space' in res.stderr and '--teacher-ckpt' in \
        res.stderr
    assert not work.exists()
    # lists may still be written with spaces after commas
    res = run_tool('tools/train.py', str(tmp_path / 'none.py'),
                   '--cfg-options', 'param_scheduler.milestones=[1, 2]')
    assert res.returncode == 2 and 'none.py does not exist' in res.stderr


def test_path_flags_keep_spaces(trained, tmp_path):
    folder = tmp_path / 'dir with spaces'
    folder.mkdir()
    teacher = str(folder / 'teacher.pth')
    shutil.copy(trained['teacher'], teacher)
    cfg = load_config(trained['cfg'], teacher_ckpt=teacher)
    assert cfg.model.teacher_ckpt == teacher
    preflight(cfg)
    root = write_cifar100(str(tmp_path / 'cifar data'))
    cifar = load_config(osp.join(
        ROOT, 'configs/_base_/datasets/cifar100_bs64.py'), data_root=root)
    for key in ('train_dataloader', 'test_dataloader'):
        assert cifar[key].dataset.data_root == root
    preflight(cifar, ('train_dataloader', 'test_dataloader'))
    with pytest.raises(ValueError, match='no dataset'):
        load_config(trained['cfg'], data_root=root)


# -- one error surface --
@pytest.mark.parametrize('option,message', [
    ('model.distiller.distill_losses.loss_dckd.tau=0', 'tau must be'),
    ('model.architecture.head.num_classes=100', 'num_classes'),
])
def test_project_value_errors_are_clear(trained, tmp_path, option, message):
    """dckd_mm's own ValueErrors used to reach the user as tracebacks with
    exit 1 and a left-over work dir."""
    work = tmp_path / 'w'
    # in-process runs share mmengine's visualizer per experiment name
    res = run_tool('tools/train.py', trained['cfg'], '--work-dir', str(work),
                   '--cfg-options', option,
                   f'experiment_name={run_name("reliability")}')
    assert res.returncode == 2, res.stderr[-2000:]
    assert res.stderr.startswith('error: ') and message in res.stderr
    assert 'Traceback' not in res.stderr
    assert not work.exists()


@pytest.mark.parametrize('key', ['loss_weight', 'alpha', 'beta'])
def test_negative_loss_weights_are_refused(trained, tmp_path, key):
    work = tmp_path / 'w'
    res = run_tool('tools/train.py', trained['cfg'], '--work-dir', str(work),
                   '--cfg-options',
                   f'model.distiller.distill_losses.loss_dckd.{key}=-1.0')
    assert res.returncode == 2
    assert f'loss_dckd.{key} = -1.0' in res.stderr
    assert not work.exists()


def test_user_errors_are_told_from_bugs():
    cfg = Config(dict(model=dict(loss=dict(type='DCKDLoss', beta=-0.5))))
    with pytest.raises(ValueError) as info:
        check_loss_options(cfg)
    assert is_user_error(info.value)
    try:
        torch.zeros(2).view(3)  # a ValueError/RuntimeError from a library
    except RuntimeError as err:
        assert not is_user_error(err)
    try:
        int('x')
    except ValueError as err:
        assert not is_user_error(err)  # not raised by dckd_mm
