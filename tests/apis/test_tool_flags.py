# Copyright (c) dckd_mm contributors. All rights reserved.
"""mmpretrain's tool flags that make sense for distillation:
``tools/train.py --no-validate --no-pin-memory --no-persistent-workers``,
``tools/test.py --show-dir --interval --out-item --tta``, and the
TensorBoard recipe of docs/logging.md, each on real configs and tiny
runs."""
import json
import os
import os.path as osp
import pickle
import re

import cv2
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import dckd_mm  # noqa: F401
from dckd_mm.apis import load_config
from tests.helpers import (run_name, run_tool, save_teacher_ckpt, tiny_run_cfg,
                           write_cifar100)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CFG = 'configs/dckd/res32x4_res8x4_cifar100.py'
DIGITS = osp.join(ROOT, 'configs/demo/dckd_resnet20_resnet8_1xb64_digits.py')
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


# -- tools/train.py --
def test_no_validate_removes_the_val_loop():
    cfg = load_config(CFG)
    assert cfg.val_cfg is not None and cfg.val_dataloader is not None
    assert cfg.val_evaluator is not None
    cfg = load_config(CFG, no_validate=True)
    assert (cfg.val_cfg, cfg.val_dataloader, cfg.val_evaluator) == (
        None, None, None)
    # the test loop stays
    assert cfg.test_dataloader.dataset.type == 'SafeCIFAR100'


def test_dataloader_flags_reach_every_loader():
    cfg = load_config(CFG)
    # the CIFAR configs keep their workers alive between epochs
    assert all(cfg[k].persistent_workers is True for k in LOADERS)
    assert all('pin_memory' not in cfg[k] for k in LOADERS)
    cfg = load_config(CFG, no_persistent_workers=True)
    assert all(cfg[k].persistent_workers is False for k in LOADERS)
    assert all('pin_memory' not in cfg[k] for k in LOADERS)
    cfg = load_config(CFG, no_pin_memory=True)
    assert all(cfg[k].pin_memory is False for k in LOADERS)
    assert all(cfg[k].persistent_workers is True for k in LOADERS)


def test_train_tool_passes_the_flags(monkeypatch, tmp_path):
    seen = []
    monkeypatch.setattr('dckd_mm.apis.run_train',
                        lambda cfg, resume=None, start_over=False,
                        **kwargs: seen.append(cfg))
    res = run_tool('tools/train.py', CFG, '--work-dir', str(tmp_path / 'w'),
                   '--no-validate', '--no-pin-memory',
                   '--no-persistent-workers')
    assert res.returncode == 0, res.stderr
    cfg = seen[-1]
    assert cfg.val_cfg is None and cfg.val_dataloader is None
    assert cfg.train_dataloader.pin_memory is False
    assert cfg.train_dataloader.persistent_workers is False


def _digits_config(tmp_path, extra: str = '') -> str:
    """The tiny digits SimKD + DCKD config (100 training images, 4
    iterations an epoch), validated on 50 images after every epoch, with
    mmpretrain's best-checkpoint rule."""
    teacher = str(tmp_path / 'teacher.pth')
    path = tmp_path / 'digits.py'
    path.write_text(
        f"_base_ = ['{DIGITS}']\n"
        "train_pipeline = [dict(type='PackInputs')]\n"
        "train_dataloader = dict(batch_size=25, dataset=dict(indices=100, "
        "pipeline=train_pipeline))\n"
        "val_dataloader = dict(dataset=dict(indices=50))\n"
        "test_dataloader = dict(dataset=dict(indices=50))\n"
        "train_cfg = dict(max_epochs=1, val_interval=1)\n"
        "default_hooks = dict(logger=dict(interval=1), checkpoint=dict("
        "interval=1, save_best='auto'))\n"
        f"model = dict(teacher_ckpt='{teacher}')\n" + extra)
    if not osp.exists(teacher):
        save_teacher_ckpt(Config.fromfile(str(path)).model.teacher.to_dict(),
                          teacher)
    return str(path)


def _scalars(work_dir: str) -> list:
    path = next(osp.join(r, f) for r, _, fs in os.walk(work_dir)
                for f in fs if f == 'scalars.json')
    with open(path) as f:
        return [json.loads(line) for line in f]


def test_no_validate_run_does_not_validate(tmp_path):
    """The same tiny run, with and without --no-validate: only the first
    validates (a top-1 accuracy logged, a best_*.pth saved)."""
    cfg = _digits_config(tmp_path)
    runs = {}
    for name, flags in (('val', []), ('no_val', ['--no-validate'])):
        work = str(tmp_path / name)
        res = run_tool('tools/train.py', cfg, '--work-dir', work, *flags)
        assert res.returncode == 0, res.stderr[-3000:]
        runs[name] = (sorted(os.listdir(work)), _scalars(work))
    names, rows = runs['val']
    assert 'epoch_1.pth' in names
    assert [n for n in names if n.startswith('best_accuracy')]
    assert [r for r in rows if 'accuracy/top1' in r]
    names, rows = runs['no_val']
    assert 'epoch_1.pth' in names
    assert not [n for n in names if n.startswith('best_')]
    assert not [r for r in rows if any('accuracy' in k for k in r)]
    # it trained all the same: 4 iterations, each with a loss
    assert len([r for r in rows if 'loss' in r]) == 4


# -- tools/test.py --
@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    """A tiny CIFAR-100 distillation config (6 test images, batches of 4)
    dumped to a file, a checkpoint that fits its model, and two variants:
    one with a test-time augmentation (the image and its mirror image,
    scores averaged), one that tests the mirror images alone."""
    tmp = tmp_path_factory.mktemp('tool_flags')
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
    # no experiment name in the dumped config: each tool run then names
    # itself, and does not reuse the previous run's mmengine visualizer
    # (whose vis_data folder belongs to another work dir)
    cfg.pop('experiment_name')
    cfg.dump(path)
    tta = tmp / 'tta.py'
    tta.write_text(
        f"_base_ = ['{path}']\n"
        "tta_model = dict(type='mmpretrain.AverageClsScoreTTA')\n"
        "tta_pipeline = [dict(type='TestTimeAug', transforms=[[dict("
        "type='RandomFlip', prob=1.0), dict(type='RandomFlip', prob=0.0)], "
        "[dict(type='PackInputs')]])]\n")
    flipped = tmp / 'flipped.py'
    flipped.write_text(
        f"_base_ = ['{path}']\n"
        "test_dataloader = dict(dataset=dict(pipeline=[dict("
        "type='RandomFlip', prob=1.0), dict(type='PackInputs')]))\n")
    return dict(cfg=path, ckpt=ckpt, tta=str(tta), flipped=str(flipped))


def _test(tiny, tmp_path, *flags, config=None):
    return run_tool('tools/test.py', config or tiny['cfg'], tiny['ckpt'],
                    '--work-dir', str(tmp_path / 'w'), *flags)


def _metrics(stdout: str) -> dict:
    """The metrics dict tools/test.py prints last."""
    line = stdout.strip().splitlines()[-1]
    return {k: float(v) for k, v in re.findall(r"'([^']+)': ([0-9.e+-]+)",
                                               line)}


def test_show_dir_draws_the_test_predictions(tiny, tmp_path):
    """One picture per drawn test sample. Batches of 3: mmpretrain 1.2's
    VisualizationHook numbers a smaller last batch's samples from
    len(batch) x batch index, over earlier pictures (6 images in batches
    of 4 give 0-3 only)."""
    show = tmp_path / 'show'
    batches = ('--cfg-options', 'test_dataloader.batch_size=3')
    res = _test(tiny, tmp_path, '--show-dir', str(show), *batches)
    assert res.returncode == 0, res.stderr[-3000:]
    # one picture per test sample, named after its index
    assert sorted(os.listdir(show)) == [f'{i}_0.png' for i in range(6)]
    image = cv2.imread(str(show / '0_0.png'))
    assert image is not None and image.ndim == 3 and image.shape[2] == 3
    show2 = tmp_path / 'every_4th'
    res = _test(tiny, tmp_path, '--show-dir', str(show2), '--interval', '4',
                *batches)
    assert res.returncode == 0, res.stderr[-3000:]
    assert sorted(os.listdir(show2)) == ['0_0.png', '4_0.png']


def test_show_dir_refusals(tiny, tmp_path):
    a_file = tmp_path / 'a_file'
    a_file.write_text('')
    res = _test(tiny, tmp_path, '--show-dir', str(a_file))
    assert res.returncode == 2
    assert res.stderr.startswith('error: --show-dir') and 'is a file' in \
        res.stderr
    no_hook = tmp_path / 'no_hook.py'
    no_hook.write_text(f"_base_ = ['{tiny['cfg']}']\n"
                       "default_hooks = dict(visualization=None)\n")
    res = _test(tiny, tmp_path, '--show-dir', str(tmp_path / 's'),
                config=str(no_hook))
    assert res.returncode == 2
    assert res.stderr.startswith('error: --show-dir') and \
        'VisualizationHook' in res.stderr
    res = _test(tiny, tmp_path, '--show-dir', str(tmp_path / 's'),
                '--interval', '0')
    assert res.returncode == 2 and '--interval 0' in res.stderr
    assert not (tmp_path / 's').exists() and not (tmp_path / 'w').exists()


@pytest.mark.parametrize('ext', ['json', 'yaml', 'pkl'])
def test_out_item_metrics_dumps_the_metrics(tiny, tmp_path, ext):
    out = tmp_path / f'metrics.{ext}'
    res = _test(tiny, tmp_path, '--out', str(out), '--out-item', 'metrics')
    assert res.returncode == 0, res.stderr[-3000:]
    import mmengine
    dumped = mmengine.load(str(out))
    printed = _metrics(res.stdout)
    assert set(printed) == {'accuracy/top1', 'accuracy/top5'}
    assert dumped == pytest.approx(printed)


def test_out_item_pred_is_the_default(tiny, tmp_path):
    preds = {}
    for name, flags in (('default', []), ('pred', ['--out-item', 'pred'])):
        out = tmp_path / f'{name}.pkl'
        res = _test(tiny, tmp_path, '--out', str(out), *flags)
        assert res.returncode == 0, res.stderr[-3000:]
        with open(out, 'rb') as f:
            preds[name] = pickle.load(f)
    assert len(preds['default']) == len(preds['pred']) == 6
    for a, b in zip(preds['default'], preds['pred']):
        assert torch.equal(a['pred_score'], b['pred_score'])


def test_out_item_refusals(tiny, tmp_path):
    res = _test(tiny, tmp_path, '--out-item', 'metrics')
    assert res.returncode == 2 and '--out-item needs --out' in res.stderr
    res = _test(tiny, tmp_path, '--out', str(tmp_path / 'm.txt'),
                '--out-item', 'metrics')
    assert res.returncode == 2
    assert res.stderr.startswith('error: --out') and '.json' in res.stderr
    assert not (tmp_path / 'w').exists()


def test_tta_needs_tta_model_and_pipeline(tiny, tmp_path):
    res = _test(tiny, tmp_path, '--tta')
    assert res.returncode == 2
    assert res.stderr.startswith('error: --tta:')
    assert 'no tta_model and no tta_pipeline' in res.stderr
    assert not (tmp_path / 'w').exists()


def test_tta_wraps_the_model_and_replaces_the_pipeline(tiny):
    plain = load_config(tiny['tta'])
    cfg = load_config(tiny['tta'], tta=True)
    assert cfg.model.type == 'mmpretrain.AverageClsScoreTTA'
    assert cfg.model.module.to_dict() == plain.model.to_dict()
    assert cfg.test_dataloader.dataset.pipeline == plain.tta_pipeline
    assert plain.test_dataloader.dataset.pipeline == [
        dict(type='PackInputs')]


def test_tta_scores_average_the_augmented_views(tiny, tmp_path):
    """--tta with the views (mirror image, image): every score is the mean
    of the scores of the plain test and of the mirror-image test."""
    preds = {}
    for name, config, flags in (('plain', tiny['cfg'], []),
                                ('flipped', tiny['flipped'], []),
                                ('tta', tiny['tta'], ['--tta'])):
        out = tmp_path / f'{name}.pkl'
        res = _test(tiny, tmp_path, '--out', str(out), *flags,
                    config=config)
        assert res.returncode == 0, res.stderr[-3000:]
        with open(out, 'rb') as f:
            preds[name] = [p['pred_score'] for p in pickle.load(f)]
    for p, f, t in zip(preds['plain'], preds['flipped'], preds['tta']):
        assert not torch.allclose(p, f)  # the views differ
        torch.testing.assert_close(t, (p + f) / 2)


# -- docs/logging.md: the TensorBoard recipe --
def _doc_block(section: str) -> str:
    with open(osp.join(ROOT, 'docs', 'logging.md')) as f:
        text = f.read()
    part = text.split(f'## {section}\n', 1)[1]
    return part.split('```python\n', 1)[1].split('```', 1)[0]


def test_tensorboard_recipe_writes_the_losses(tmp_path):
    pytest.importorskip('tensorboard')
    from tensorboard.backend.event_processing.event_accumulator import \
        EventAccumulator
    recipe = _doc_block('TensorBoard')
    assert 'TensorboardVisBackend' in recipe
    cfg = _digits_config(tmp_path, recipe)
    work = str(tmp_path / 'tb')
    res = run_tool('tools/train.py', cfg, '--work-dir', work,
                   '--no-validate')
    assert res.returncode == 0, res.stderr[-3000:]
    events = [osp.join(r, f) for r, _, fs in os.walk(work) for f in fs
              if f.startswith('events.out.tfevents.')]
    assert len(events) == 1, events
    assert osp.basename(osp.dirname(events[0])) == 'vis_data'
    acc = EventAccumulator(events[0])
    acc.Reload()
    logged = [(e.step, e.value) for e in acc.Scalars('loss')]
    expected = [(r['step'], r['loss']) for r in _scalars(work)
                if 'loss' in r]
    assert len(logged) == len(expected) == 4
    assert [s for s, _ in logged] == [s for s, _ in expected]
    assert [v for _, v in logged] == pytest.approx(
        [v for _, v in expected], rel=1e-4)
