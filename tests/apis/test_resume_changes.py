# Copyright (c) dckd_mm contributors. All rights reserved.
"""--resume with a changed config is refused, or with
--resume-with-changes applied, logged and recorded (issue 24, D3), on real
checkpoints of tiny digits runs.

The runs train 2 epochs of 4 iterations with a schedule that moves every
iteration (linear warm-up, cosine to a floor, halving by epoch), so a
learning rate that did not take effect cannot hide."""
import glob
import hashlib
import json
import os
import os.path as osp
import shutil

import pytest
import torch
from mmengine.config import Config

import dckd_mm  # noqa: F401
from dckd_mm.apis import load_config, run_train
from dckd_mm.apis.resume_changes import RECORD
from dckd_mm.errors import CheckpointError, ConfigError
from tests.helpers import run_tool, save_teacher_ckpt

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO = osp.join(ROOT, 'configs/demo')
TINY = """
train_pipeline = [dict(type='PackInputs')]
train_dataloader = dict(batch_size=25, dataset=dict(indices=100,
                        pipeline=train_pipeline))
test_dataloader = dict(dataset=dict(indices=50))
val_dataloader = dict(dataset=dict(indices=50))
train_cfg = dict(max_epochs=2, val_interval=100)
default_hooks = dict(checkpoint=dict(interval=1, max_keep_ckpts=-1))
log_level = 'WARNING'
"""
SCHEDULE = """
param_scheduler = [
    dict(type='LinearLR', by_epoch=False, start_factor=0.2, begin=0, end=3),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=3, end=8, T_max=5,
         eta_min=0.001),
    dict(type='MultiStepLR', by_epoch=True, milestones=[1], gamma=0.5),
]
"""
NEW_LR = {'optim_wrapper.optimizer.lr': 0.5}
TAU = 'model.distiller.distill_losses.loss_dckd.tau'


def write_cfg(tmp, name: str, base: str, teacher: str) -> str:
    path = tmp / name
    path.write_text(f"_base_ = ['{osp.join(DEMO, base)}']\n" + TINY +
                    SCHEDULE + f"model = dict(teacher_ckpt='{teacher}')\n")
    return str(path)


def lr_history(runner) -> list:
    """The lr each iteration trained with (mmengine's RuntimeInfoHook, kept
    in the message hub and so in the checkpoints)."""
    return [float(x) for x in
            runner.message_hub.get_scalar('train/lr').data[0]]


def train(cfg: str, work: str, options=None, resume=None,
          with_changes=False):
    return run_train(load_config(cfg, work, options), resume,
                     resume_with_changes=with_changes)


@pytest.fixture(scope='module')
def base(tmp_path_factory):
    """The DCKD run (lr 0.05), 2 epochs with both checkpoints, and the same
    run trained from the start with lr 0.5."""
    tmp = tmp_path_factory.mktemp('changes')
    teacher = str(tmp / 'teacher.pth')
    cfg = write_cfg(tmp, 'dckd.py', 'dckd_resnet20_resnet8_1xb64_digits.py',
                    teacher)
    save_teacher_ckpt(Config.fromfile(cfg).model.teacher.to_dict(), teacher)
    work = str(tmp / 'work')
    old = train(cfg, work)
    new = train(cfg, str(tmp / 'new_lr'), NEW_LR)
    return dict(tmp=tmp, cfg=cfg, teacher=teacher, work=work,
                old_lr=lr_history(old), new_lr=lr_history(new),
                final=torch.load(osp.join(work, 'epoch_2.pth'),
                                 weights_only=False)['state_dict'])


def resume_dir(base, tmp_path, ckpt=None) -> str:
    """A work dir holding epoch_1.pth of the base run (or ``ckpt``),
    named by last_checkpoint."""
    work = tmp_path / 'resume'
    work.mkdir()
    target = str(work / 'epoch_1.pth')
    if ckpt is None:
        shutil.copy(osp.join(base['work'], 'epoch_1.pth'), target)
    else:
        torch.save(ckpt, target)
    (work / 'last_checkpoint').write_text(target)
    return str(work)


def snapshot(folder: str) -> dict:
    """Every file and folder under ``folder``: size, mtime and content."""
    seen = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = osp.join(root, name)
            stat = os.stat(path)
            digest = None
            if osp.isfile(path):
                with open(path, 'rb') as f:
                    digest = hashlib.sha1(f.read()).hexdigest()
            seen[osp.relpath(path, folder)] = (stat.st_size,
                                               stat.st_mtime_ns, digest)
    return seen


def run_log(runner) -> str:
    (log, ) = glob.glob(osp.join(runner.log_dir, '*.log'))
    with open(log) as f:
        return f.read()


def test_same_config_resumes_exactly_and_quietly(base, tmp_path):
    work = resume_dir(base, tmp_path)
    runner = train(base['cfg'], work, resume='auto')
    assert runner.epoch == 2
    assert lr_history(runner) == base['old_lr']
    for key, value in runner.model.state_dict().items():
        assert torch.equal(value, base['final'][key]), key
    assert not osp.exists(osp.join(work, RECORD))


def test_changed_config_is_refused_and_nothing_changes(base, tmp_path):
    """Used to train with the old lr (and tau 2.0 silently) with exit 0,
    while cfg.py recorded lr 0.5."""
    work = str(tmp_path / 'work')
    shutil.copytree(base['work'], work)
    with open(osp.join(work, 'last_checkpoint'), 'w') as f:
        f.write(osp.join(work, 'epoch_1.pth'))
    before = snapshot(work)
    res = run_tool('tools/train.py', base['cfg'], '--work-dir', work,
                   '--resume', '--cfg-options',
                   'optim_wrapper.optimizer.lr=0.5', f'{TAU}=2.0')
    assert res.returncode == 2, res.stderr[-3000:]
    assert res.stderr.startswith('error: --resume: ')
    lines = res.stderr.splitlines()
    assert f'  {TAU}: 4.0 -> 2.0' in lines
    assert '  optim_wrapper.optimizer.lr: 0.05 -> 0.5' in lines
    assert 'in 2 setting(s)' in res.stderr
    assert "mmengine's resume would keep the checkpoint's optimizer" in \
        res.stderr
    assert 'resume with the config it was started with' in res.stderr
    assert '--resume-with-changes' in res.stderr
    assert f'load_from={osp.join(work, "epoch_1.pth")}' in res.stderr
    assert snapshot(work) == before  # cfg.py, logs, checkpoints, pointer


def test_resume_with_changes_applies_them(base, tmp_path):
    """lr 0.5 and tau 2.0 accepted: from the first resumed iteration on,
    the lr is what the schedule gives from the new base lr (the run
    trained with lr 0.5 from the start has the same values, bitwise), the
    loss uses the new tau, the changes are logged and recorded."""
    work = resume_dir(base, tmp_path)
    runner = train(base['cfg'], work, dict(NEW_LR, **{TAU: 2.0}), 'auto',
                   with_changes=True)
    history = lr_history(runner)
    assert history[:4] == base['old_lr'][:4]
    assert history[4:] == base['new_lr'][4:]
    assert all(a != b for a, b in zip(base['new_lr'][4:],
                                      base['old_lr'][4:]))
    group = runner.optim_wrapper.optimizer.param_groups[0]
    assert group['initial_lr'] == 0.5
    assert runner.model.distiller.distill_losses['loss_dckd'].tau == 2.0
    # the weights are not those of a resume without the change
    state = runner.model.state_dict()
    assert not torch.equal(state['architecture.backbone.conv1.weight'],
                           base['final']['architecture.backbone.conv1.weight'])
    with open(osp.join(work, RECORD)) as f:
        (entry, ) = [json.loads(line) for line in f]
    assert entry['checkpoint'] == osp.join(work, 'epoch_1.pth')
    assert (entry['epoch'], entry['iter']) == (1, 4)
    assert entry['compared'] and entry['rederived']
    assert entry['changes'] == [
        dict(key=TAU, old='4.0', new='2.0'),
        dict(key='optim_wrapper.optimizer.lr', old='0.05', new='0.5')]
    assert entry['time']
    log = run_log(runner)
    assert '--resume-with-changes: resuming' in log
    assert f'{TAU}: 4.0 -> 2.0' in log
    # a second accepted resume appends
    runner = train(base['cfg'], work, dict(NEW_LR, **{
        TAU: 2.0, 'train_cfg.max_epochs': 3}), 'auto', with_changes=True)
    with open(osp.join(work, RECORD)) as f:
        entries = [json.loads(line) for line in f]
    assert len(entries) == 2
    assert entries[1]['changes'] == [
        dict(key='train_cfg.max_epochs', old='2', new='3')]
    assert runner.epoch == 3


def test_checkpoint_without_its_config(base, tmp_path):
    """No meta['cfg']: refused, nothing written; with the flag a warning
    says the config could not be compared, and the config's lr rules."""
    ckpt = torch.load(osp.join(base['work'], 'epoch_1.pth'),
                      weights_only=False)
    del ckpt['meta']['cfg']
    work = resume_dir(base, tmp_path, ckpt)
    before = snapshot(work)
    with pytest.raises(CheckpointError, match='cannot be checked') as err:
        train(base['cfg'], work, NEW_LR, 'auto')
    assert "meta['cfg'] is missing" in str(err.value)
    assert snapshot(work) == before
    runner = train(base['cfg'], work, NEW_LR, 'auto', with_changes=True)
    assert lr_history(runner)[4:] == base['new_lr'][4:]
    assert 'the config could not be compared' in run_log(runner)
    with open(osp.join(work, RECORD)) as f:
        (entry, ) = [json.loads(line) for line in f]
    assert not entry['compared'] and entry['changes'] == []
    assert 'missing' in entry['reason']


def test_kd_checkpoint_under_a_dkd_config_is_refused(base, tmp_path):
    """Used to resume with exit 0 and train DKD on from a KD run."""
    kd = write_cfg(tmp_path, 'kd.py', 'kd_resnet20_resnet8_1xb64_digits.py',
                   base['teacher'])
    dkd = write_cfg(tmp_path, 'dkd.py',
                    'dkd_resnet20_resnet8_1xb64_digits.py', base['teacher'])
    work = str(tmp_path / 'kd')
    train(kd, work, {'train_cfg.max_epochs': 1})
    res = run_tool('tools/train.py', dkd, '--work-dir', work, '--resume',
                   '--cfg-options', 'train_cfg.max_epochs=1')
    assert res.returncode == 2, res.stderr[-3000:]
    lines = res.stderr.splitlines()
    losses = 'model.distiller.distill_losses'
    assert f"  {losses}.loss_kd.type: 'KLDivergence' -> <absent>" in lines
    assert f"  {losses}.loss_dkd.type: <absent> -> 'DKDLoss'" in lines
    assert f'  {losses}.loss_dkd.beta: <absent> -> 8.0' in lines
    assert '  model.architecture.head.loss.loss_weight: 0.1 -> 1.0' in lines


def test_optimizer_state_that_cannot_be_mapped_is_refused(base, tmp_path):
    """paramwise_cfg splits the parameters into other groups: the saved
    state cannot fill them, even with the flag."""
    work = resume_dir(base, tmp_path)
    with pytest.raises(CheckpointError, match='parameter groups'):
        train(base['cfg'], work,
              {'optim_wrapper.paramwise_cfg.norm_decay_mult': 0.0}, 'auto',
              with_changes=True)
    assert not osp.exists(osp.join(work, RECORD))
    assert not osp.exists(osp.join(work, 'epoch_2.pth'))


def test_the_flag_needs_resume(base, tmp_path):
    with pytest.raises(ConfigError, match='needs --resume'):
        train(base['cfg'], str(tmp_path / 'w'), with_changes=True)
    assert not osp.exists(tmp_path / 'w')
