# Copyright (c) dckd_mm contributors. All rights reserved.
"""The parts of --resume-with-changes that need no training run
(dckd_mm/apis/resume_changes.py, dckd_mm/apis/resume.py): the schedule
replayed as mmengine's ParamSchedulerHook steps it, new optimizer settings
on a resumed optimizer, the record file, and the decision on a
checkpoint's config."""
import copy
import json
import types

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import ParamSchedulerHook
from mmengine.optim import OptimWrapper
from mmengine.registry import PARAM_SCHEDULERS

import dckd_mm  # noqa: F401
from dckd_mm.apis.resume import check_resume_config
from dckd_mm.apis.resume_changes import (RECORD, ResumeChangesHook,
                                         apply_group_settings, group_sizes,
                                         record_changes, replay_schedule)
from dckd_mm.errors import CheckpointError

MIXED = [
    dict(type='LinearLR', by_epoch=False, start_factor=0.2, begin=0, end=3),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=3, end=12, T_max=9,
         eta_min=0.001),
    dict(type='MultiStepLR', by_epoch=True, milestones=[1, 2], gamma=0.5),
    dict(type='CosineAnnealingMomentum', by_epoch=True, T_max=3,
         eta_min=0.5, end=3),
]


def build(lr: float = 0.1, schedule=MIXED):
    param = torch.nn.Parameter(torch.ones(2))
    optimizer = torch.optim.SGD([param], lr=lr, momentum=0.9)
    wrapper = OptimWrapper(optimizer)
    schedulers = [
        PARAM_SCHEDULERS.build(dict(cfg, optimizer=wrapper))
        for cfg in copy.deepcopy(schedule)
    ]
    return optimizer, schedulers


def hook_steps(schedulers, epochs: int, iters_per_epoch: int) -> list:
    """What mmengine's ParamSchedulerHook does over ``epochs`` epochs; the
    lr and momentum each iteration trains with."""
    hook = ParamSchedulerHook()
    runner = types.SimpleNamespace(param_schedulers=schedulers)
    seen = []
    for _ in range(epochs):
        for i in range(iters_per_epoch):
            group = schedulers[0].optimizer.param_groups[0]
            seen.append((group['lr'], group['momentum']))
            hook.after_train_iter(runner, i)
        hook.after_train_epoch(runner)
    return seen


def test_replay_equals_parameter_scheduler_hook():
    """Iteration and epoch schedulers on one lr, chained: the replay gives
    bitwise the hook's values and scheduler states at every point."""
    for epochs in range(4):
        optimizer, schedulers = build()
        hook_steps(schedulers, epochs, iters_per_epoch=4)
        fresh_opt, fresh = build()
        replay_schedule(fresh, epochs, 4 * epochs, 4)
        assert fresh_opt.param_groups[0]['lr'] == \
            optimizer.param_groups[0]['lr']
        assert fresh_opt.param_groups[0]['momentum'] == \
            optimizer.param_groups[0]['momentum']
        for a, b in zip(fresh, schedulers):
            sa, sb = a.state_dict(), b.state_dict()
            assert sa == sb
    assert optimizer.param_groups[0]['lr'] != 0.1  # the schedule moved


def test_replay_mid_epoch_and_one_kind_alone():
    optimizer, schedulers = build()
    hook = ParamSchedulerHook()
    runner = types.SimpleNamespace(param_schedulers=schedulers)
    for i in range(4):
        hook.after_train_iter(runner, i)
    hook.after_train_epoch(runner)
    for i in range(2):  # an iteration checkpoint inside epoch 2
        hook.after_train_iter(runner, i)
    fresh_opt, fresh = build()
    replay_schedule(fresh, 1, 6, 4)
    assert [s.state_dict() for s in fresh] == \
        [s.state_dict() for s in schedulers]
    # epoch schedulers alone need no epoch length
    optimizer, schedulers = build(schedule=MIXED[2:])
    hook_steps(schedulers, 2, 5)
    fresh_opt, fresh = build(schedule=MIXED[2:])
    replay_schedule(fresh, 2, 10, None)
    assert fresh_opt.param_groups[0]['lr'] == optimizer.param_groups[0]['lr']


def test_replay_refuses_what_it_cannot_know():
    _, schedulers = build()
    with pytest.raises(CheckpointError, match='epoch length'):
        replay_schedule(schedulers, 2, 9, None)
    param = torch.nn.Parameter(torch.ones(1))
    wrapper = OptimWrapper(torch.optim.SGD([param], lr=0.1))
    plateau = PARAM_SCHEDULERS.build(
        dict(type='ReduceOnPlateauLR', monitor='loss', optimizer=wrapper))
    with pytest.raises(CheckpointError, match='ReduceOnPlateauLR'):
        replay_schedule([plateau], 1, 4, 4)


def test_new_settings_on_a_resumed_optimizer():
    param = torch.nn.Parameter(torch.ones(3))
    old = torch.optim.SGD([param], lr=0.1, momentum=0.9)
    param.grad = torch.ones(3)
    old.step()
    buffer = old.state[param]['momentum_buffer'].clone()
    apply_group_settings(old, [dict(lr=0.5, momentum=0.8, dampening=0,
                                    weight_decay=1e-4, nesterov=False)])
    group = old.param_groups[0]
    assert group['lr'] == 0.5 and group['weight_decay'] == 1e-4
    assert group['params'] == [param]
    assert 'maximize' not in group  # only the new settings
    assert torch.equal(old.state[param]['momentum_buffer'], buffer)
    apply_group_settings(old, [dict(group)], reset_state=True)
    assert len(old.state) == 0
    with pytest.raises(CheckpointError, match='parameter groups'):
        apply_group_settings(old, [dict(lr=1), dict(lr=2)])


def test_group_sizes():
    param = torch.nn.Parameter(torch.ones(3))
    opt = torch.optim.SGD([{'params': [param]}, {'params': []}], lr=0.1)
    assert group_sizes(opt.state_dict()) == {None: [1, 0]}
    assert group_sizes({'gen': opt.state_dict(), 'x': 1}) == {'gen': [1, 0]}
    assert group_sizes(None) == {}


def test_record_changes_appends(tmp_path):
    path = record_changes(str(tmp_path), dict(n=1))
    (tmp_path / RECORD).write_bytes((tmp_path / RECORD).read_bytes()[:-1])
    record_changes(str(tmp_path), dict(n=2, key='tau'))
    lines = (tmp_path / RECORD).read_text().splitlines()
    assert [json.loads(line) for line in lines] == [
        dict(n=1), dict(key='tau', n=2)]
    assert path == str(tmp_path / RECORD)
    assert not list(tmp_path.glob('*.partial'))


CFG = dict(
    model=dict(type='M', loss=dict(tau=4.0)),
    optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
    randomness=dict(seed=0),
    work_dir='/a')


def ckpt_of(values: dict, **meta) -> dict:
    text = Config(values, format_python_code=False).pretty_text
    return dict(meta=dict(dict(cfg=text, epoch=1, iter=4, seed=0), **meta),
                optimizer=dict(param_groups=[dict(params=[0, 1])]),
                param_schedulers=[dict(by_epoch=True, _global_step=1)])


def test_same_config_resumes_quietly():
    run = Config(dict(CFG, work_dir='/b', launcher='pytorch'))
    assert check_resume_config(run, ckpt_of(CFG), 'c.pth') is None
    assert check_resume_config(run, ckpt_of(CFG), 'c.pth', True) is None


def test_changed_config_is_refused_or_accepted():
    run = Config(copy.deepcopy(CFG))
    run.model.loss.tau = 2.0
    run.optim_wrapper.optimizer.lr = 0.5
    with pytest.raises(CheckpointError) as err:
        check_resume_config(run, ckpt_of(CFG), 'c.pth')
    text = str(err.value)
    assert 'model.loss.tau: 4.0 -> 2.0' in text
    assert 'optim_wrapper.optimizer.lr: 0.1 -> 0.5' in text
    assert '--resume-with-changes' in text and 'load_from=c.pth' in text
    hook = check_resume_config(run, ckpt_of(CFG), 'c.pth', True)
    assert isinstance(hook, ResumeChangesHook)
    assert [c.key for c in hook.changes] == ['model.loss.tau',
                                             'optim_wrapper.optimizer.lr']
    assert hook.rederive and not hook.new_type
    assert hook.randomness is None
    assert hook.sizes == {None: [2]} and hook.steps == [(True, 1)]
    # only the loss: nothing to re-derive on the optimizer
    run.optim_wrapper.optimizer.lr = 0.1
    assert not check_resume_config(run, ckpt_of(CFG), 'c.pth',
                                   True).rederive
    run.optim_wrapper.optimizer.type = 'AdamW'
    assert check_resume_config(run, ckpt_of(CFG), 'c.pth', True).new_type
    run.randomness.seed = 3
    assert check_resume_config(run, ckpt_of(CFG), 'c.pth',
                               True).randomness == dict(seed=3)


@pytest.mark.parametrize('cfg_text', [None, 'import os\n', 42, ''])
def test_checkpoint_without_a_config(cfg_text):
    ckpt = ckpt_of(CFG)
    if cfg_text is None:
        del ckpt['meta']['cfg']
    else:
        ckpt['meta']['cfg'] = cfg_text
    run = Config(copy.deepcopy(CFG))
    with pytest.raises(CheckpointError) as err:
        check_resume_config(run, ckpt, 'c.pth')
    assert 'cannot be checked against this run' in str(err.value)
    assert ('missing' if cfg_text is None else 'not a config text') in str(
        err.value)
    hook = check_resume_config(run, ckpt, 'c.pth', True)
    assert hook.changes is None and hook.rederive
    assert hook.randomness is None  # the same seed as saved
    run.randomness.seed = 5
    assert check_resume_config(run, ckpt, 'c.pth', True).randomness == \
        dict(seed=5)
