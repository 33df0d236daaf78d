# Copyright (c) dckd_mm contributors. All rights reserved.
"""The hosts' usual tool options: ``tools/train.py --auto-scale-lr`` and
``tools/test.py --out FILE``; each run's own logger and visualizer."""
import pickle

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import dckd_mm  # noqa: F401
from dckd_mm.apis import load_config
from tests.helpers import (run_name, run_tool, save_teacher_ckpt, tiny_run_cfg,
                           write_cifar100)

CFG = 'configs/dckd/res32x4_res8x4_cifar100.py'


def _no_auto_scale_cfg(tmp_path) -> str:
    """A config that sets no ``auto_scale_lr``."""
    path = tmp_path / 'no_scale.py'
    path.write_text(
        "model = dict(type='ImageClassifier')\n"
        "optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.05))\n")
    return str(path)


# -- tools/train.py --auto-scale-lr --
def test_load_config_enables_auto_scale_lr():
    assert not load_config(CFG).auto_scale_lr.get('enable', False)
    cfg = load_config(CFG, auto_scale_lr=True)
    assert cfg.auto_scale_lr.enable is True
    assert cfg.auto_scale_lr.base_batch_size == 64


def test_train_tool_passes_auto_scale_lr(monkeypatch, tmp_path):
    """The tool's parse + config path, with training replaced."""
    seen = []

    def fake_run_train(cfg, resume=None, start_over=False, **kwargs):
        seen.append(cfg)

    monkeypatch.setattr('dckd_mm.apis.run_train', fake_run_train)
    work = str(tmp_path / 'w')
    res = run_tool('tools/train.py', CFG, '--work-dir', work,
                   '--auto-scale-lr')
    assert res.returncode == 0, res.stderr
    assert seen[-1].auto_scale_lr.enable is True
    res = run_tool('tools/train.py', CFG, '--work-dir', work)
    assert res.returncode == 0, res.stderr
    assert not seen[-1].auto_scale_lr.get('enable', False)


def test_auto_scale_lr_without_base_batch_size_is_refused(tmp_path):
    config = _no_auto_scale_cfg(tmp_path)
    with pytest.raises(ValueError, match='base_batch_size'):
        load_config(config, auto_scale_lr=True)
    work = tmp_path / 'w'
    res = run_tool('tools/train.py', config, '--work-dir', str(work),
                   '--auto-scale-lr')
    assert res.returncode == 2
    assert res.stderr.startswith('error: --auto-scale-lr')
    assert 'auto_scale_lr = dict(base_batch_size=N)' in res.stderr
    assert not work.exists()


# -- tools/test.py --out --
@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    """A tiny CIFAR-100 config (6 test images, batches of 4) dumped to a
    file, and a checkpoint that fits its model."""
    tmp = tmp_path_factory.mktemp('flags')
    root = write_cifar100(str(tmp / 'cifar'), 4, 6)
    cfg = tiny_run_cfg(CFG, str(tmp / 'build'), root, batch_size=4)
    teacher = str(tmp / 'teacher.pth')
    save_teacher_ckpt(cfg.model.teacher.to_dict(), teacher)
    cfg.model.teacher_ckpt = teacher
    cfg.experiment_name = run_name('tool_flags')
    runner = Runner.from_cfg(cfg)
    ckpt = str(tmp / 'model.pth')
    torch.save({'state_dict': runner.model.state_dict(), 'meta': {}}, ckpt)
    path = str(tmp / 'cfg.py')
    cfg.dump(path)
    with open(f'{root}/cifar-100-python/test', 'rb') as f:
        labels = pickle.load(f, encoding='latin1')['fine_labels']
    return dict(cfg=path, ckpt=ckpt, labels=labels)


def test_test_tool_out_dumps_one_entry_per_sample(tiny, tmp_path):
    out = tmp_path / 'sub' / 'preds.pkl'
    res = run_tool('tools/test.py', tiny['cfg'], tiny['ckpt'], '--work-dir',
                   str(tmp_path / 'w'), '--out', str(out))
    assert res.returncode == 0, res.stderr[-3000:]
    assert 'accuracy/top1' in res.stdout
    with open(out, 'rb') as f:
        preds = pickle.load(f)
    assert len(preds) == len(tiny['labels']) == 6
    assert [int(p['gt_label']) for p in preds] == tiny['labels']
    for p in preds:
        assert p['pred_score'].shape == (100, )
        assert 0 <= int(p['pred_label']) < 100


def test_test_tool_out_must_be_a_pickle(tiny, tmp_path):
    work = tmp_path / 'w'
    res = run_tool('tools/test.py', tiny['cfg'], tiny['ckpt'], '--work-dir',
                   str(work), '--out', str(tmp_path / 'preds.json'))
    assert res.returncode == 2
    assert res.stderr.startswith('error: --out') and '.pkl' in res.stderr
    assert not (tmp_path / 'preds.json').exists()
    assert not work.exists()


def test_runs_of_one_config_get_their_own_logger_and_visualizer():
    """Two runs of the same config in one process within one second must
    not share mmengine's logger/visualizer instances (named after the
    experiment): the second would write into the first run's work dir."""
    from dckd_mm.apis import load_config
    a = load_config(CFG, work_dir='work_dirs/a')
    b = load_config(CFG, work_dir='work_dirs/b')
    assert a.experiment_name != b.experiment_name
    assert a.experiment_name.startswith('res32x4_res8x4_cifar100_')


@pytest.mark.detection
def test_detection_runs_get_their_own_visualizer():
    """mmdet's default_runtime names its visualizer 'visualizer': without
    the rename every detection run in a process (train, then test) shared
    the first run's instance and wrote into its, possibly deleted, log
    dir."""
    det = ('configs/dckd/dckd_faster-rcnn-r101-fpn_faster-rcnn-r18-fpn_'
           '8xb2-1x_coco.py')
    assert Config.fromfile(det).visualizer.name == 'visualizer'
    a = load_config(det, work_dir='work_dirs/a')
    b = load_config(det, work_dir='work_dirs/b')
    assert a.visualizer.name == a.experiment_name
    assert b.visualizer.name == b.experiment_name != a.experiment_name
