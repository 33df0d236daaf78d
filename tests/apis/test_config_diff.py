# Copyright (c) dckd_mm contributors. All rights reserved.
"""The config comparison of ``--resume`` (dckd_mm/apis/config_diff.py):
reading a checkpoint's config text without running it, dotted keys, what
counts as a change, what is ignored."""
import os.path as osp

import pytest
from mmengine.config import Config
from yapf.yapflib.yapf_api import FormatCode

import dckd_mm  # noqa: F401
from dckd_mm.apis import config_diff
from dckd_mm.apis.config_diff import (IGNORED_KEYS, IGNORED_NAMES, MISSING,
                                      Change, Source, config_values,
                                      diff_configs, flatten, format_change,
                                      is_ignored, parse_config_text)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

VALUES = dict(
    model=dict(
        type='SimKDDistill',
        distiller=dict(distill_losses=dict(
            loss_dckd=dict(type='DCKDLoss', tau=4.0, alpha=1, beta=-0.5)))),
    optim_wrapper=dict(optimizer=dict(type='SGD', lr=1e-05, betas=(0.9,
                                                                   0.99))),
    param_scheduler=[
        dict(type='LinearLR', by_epoch=False, end=3),
        dict(type='MultiStepLR', milestones=[18, 24]),
    ],
    train_dataloader=dict(
        batch_size=25,
        dataset=dict(pipeline=[dict(type='PackInputs')]),
        sampler=dict(type='DefaultSampler', shuffle=True)),
    mapping={'a-b': 1, 'c': None},
    nested=[[1, 2], (3, )],
    empty=dict(),
    flag=True)


def pretty(values: dict, yapf: bool = False) -> str:
    text = Config(values, format_python_code=False).pretty_text
    if yapf:  # what a checkpoint written outside the tests holds
        text, _ = FormatCode(
            text,
            style_config=dict(
                based_on_style='pep8',
                blank_line_before_nested_class_or_def=True,
                split_before_expression_after_opening_paren=True))
    return text


@pytest.mark.parametrize('yapf', [False, True])
def test_pretty_text_reads_back_as_the_same_values(yapf):
    text = pretty(VALUES, yapf)
    assert parse_config_text(text) == Config(VALUES).to_dict()
    assert parse_config_text(text)['optim_wrapper']['optimizer']['betas'] \
        == (0.9, 0.99)


def test_real_checkpoint_style_text_and_the_run_config_agree():
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs/dckd/res32x4_res8x4_cifar100.py'))
    old = parse_config_text(pretty(cfg.to_dict(), yapf=True))
    assert old is not None
    assert diff_configs(old, config_values(cfg)) == []
    assert old['model']['distiller']['distill_losses']['loss_dckd'][
        'tau'] == 4.0


def test_text_is_never_run(tmp_path):
    """meta['cfg'] comes from a checkpoint file: Config.fromstring would
    execute it; the reader keeps calls as source text."""
    marker = tmp_path / 'ran'
    text = (f"model = dict(x=__import__('os').system('touch {marker}'))\n"
            "lr = inf\nname = foo.bar\n")
    values = parse_config_text(text)
    assert not marker.exists()
    assert values['model']['x'] == Source(
        f"__import__('os').system('touch {marker}')")
    assert values['lr'] == Source('inf') and values['lr'] != 'inf'
    assert repr(values['name']) == 'foo.bar'
    for bad in ('import os\nx = 1\n', 'x.y = 1\n', 'def f():\n    pass\n',
                'x = 1 +\n', 'a, b = 1, 2\n', 'print(1)\n'):
        assert parse_config_text(bad) is None, bad
    assert parse_config_text(None) is None
    assert parse_config_text(b'x = 1') is None
    assert parse_config_text('x = ' + '[' * 100000) is None


def test_flatten_names_keys_as_cfg_options_does():
    flat = flatten(parse_config_text(pretty(VALUES)), lambda key: False)
    assert flat['model.distiller.distill_losses.loss_dckd.tau'] == 4.0
    assert flat['model.distiller.distill_losses.loss_dckd.beta'] == -0.5
    assert flat['param_scheduler.0.end'] == 3
    assert flat['param_scheduler.1.milestones'] == [18, 24]  # one value
    assert flat['train_dataloader.dataset.pipeline.0.type'] == 'PackInputs'
    assert flat['mapping.a-b'] == 1 and flat['mapping.c'] is None
    assert flat['nested'] == [[1, 2], (3, )]
    assert flat['empty'] == {}  # an empty dict is a value, not nothing
    assert flat['flag'] is True
    assert 'param_scheduler' not in flat and 'model' not in flat


def test_no_change_no_difference():
    a = parse_config_text(pretty(VALUES))
    b = parse_config_text(pretty(VALUES, yapf=True))
    assert diff_configs(a, b) == []


def changed(**edits) -> list:
    new = Config(VALUES).to_dict()
    for key, value in edits.items():
        node = new
        *parents, last = key.split('__')
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if value is MISSING:
            del node[last]
        else:
            node[last] = value
    return diff_configs(parse_config_text(pretty(VALUES)),
                        parse_config_text(pretty(new)))


def test_a_changed_value_nested_in_dicts():
    assert changed(model__distiller__distill_losses__loss_dckd__tau=2.0) == [
        Change('model.distiller.distill_losses.loss_dckd.tau', 4.0, 2.0)]


def test_added_and_removed_keys():
    assert changed(model__distiller__distill_losses__loss_dckd__alpha=MISSING,
                   optim_wrapper__optimizer__momentum=0.9) == [
        Change('model.distiller.distill_losses.loss_dckd.alpha', 1, MISSING),
        Change('optim_wrapper.optimizer.momentum', MISSING, 0.9)]
    # a whole new section: every leaf of it
    assert changed(auto_scale_lr=dict(enable=True, base_batch_size=64)) == [
        Change('auto_scale_lr.base_batch_size', MISSING, 64),
        Change('auto_scale_lr.enable', MISSING, True)]


def test_lists():
    # a list of plain values is one value
    assert changed(param_scheduler__1__milestones=[18, 30]) == [
        Change('param_scheduler.1.milestones', [18, 24], [18, 30])]
    # a list of dicts item by item: a transform appended
    pipeline = [dict(type='RandomFlip', prob=0.5), dict(type='PackInputs')]
    assert changed(train_dataloader__dataset__pipeline=pipeline) == [
        Change('train_dataloader.dataset.pipeline.0.prob', MISSING, 0.5),
        Change('train_dataloader.dataset.pipeline.0.type', 'PackInputs',
               'RandomFlip'),
        Change('train_dataloader.dataset.pipeline.1.type', MISSING,
               'PackInputs')]
    # a scheduler removed
    assert [c.key for c in changed(param_scheduler=[
        dict(type='LinearLR', by_epoch=False, end=3)])] == [
        'param_scheduler.1.milestones', 'param_scheduler.1.type']


def test_indices_sort_as_numbers():
    old = {'p': [dict(a=i) for i in range(12)]}
    new = {'p': [dict(a=-i) for i in range(12)]}
    assert [c.key for c in diff_configs(old, new)] == [
        f'p.{i}.a' for i in range(1, 12)]


def test_type_changes():
    # numbers by value; a bool, a string, a tuple are other kinds
    assert changed(model__distiller__distill_losses__loss_dckd__tau=4) == []
    assert changed(model__distiller__distill_losses__loss_dckd__alpha=1.0) \
        == []
    assert changed(flag=1) == [Change('flag', True, 1)]
    assert changed(model__distiller__distill_losses__loss_dckd__alpha=True) \
        == [Change('model.distiller.distill_losses.loss_dckd.alpha', 1, True)]
    assert changed(train_dataloader__batch_size='25') == [
        Change('train_dataloader.batch_size', 25, '25')]
    assert changed(optim_wrapper__optimizer__betas=[0.9, 0.99]) == [
        Change('optim_wrapper.optimizer.betas', (0.9, 0.99), [0.9, 0.99])]
    assert changed(nested=[[1, 2], [3]]) == [
        Change('nested', [[1, 2], (3, )], [[1, 2], [3]])]
    assert changed(flag=None) == [Change('flag', True, None)]
    # a value that becomes a dict, and a dict that becomes a list
    assert changed(empty=dict(x=1)) == [
        Change('empty', {}, MISSING), Change('empty.x', MISSING, 1)]
    assert changed(train_dataloader__sampler=[dict(type='DefaultSampler')]) \
        == [Change('train_dataloader.sampler.0.type', MISSING,
                   'DefaultSampler'),
            Change('train_dataloader.sampler.shuffle', True, MISSING),
            Change('train_dataloader.sampler.type', 'DefaultSampler',
                   MISSING)]


def test_source_values_compare_by_text():
    a = parse_config_text('x = inf\ny = f(1)\n')
    assert diff_configs(a, parse_config_text('x = inf\ny = f( 1 )\n')) == []
    assert diff_configs(a, parse_config_text('x = -inf\ny = f(1)\n')) == [
        Change('x', Source('inf'), Source('-inf'))]


@pytest.mark.parametrize('key', [
    'work_dir', 'load_from', 'resume', 'launcher', 'experiment_name',
    'log_level', 'visualizer.name', 'vis_backends.0.type',
    'log_processor.window_size', 'env_cfg.dist_cfg.backend',
    'default_hooks.logger.interval', 'default_hooks.checkpoint.interval',
    'default_hooks.checkpoint.max_keep_ckpts', 'default_hooks.timer.type',
    'default_hooks.visualization.enable', 'val_dataloader.batch_size',
    'val_cfg.type', 'val_evaluator.topk', 'test_dataloader.dataset.split',
    'test_cfg', 'test_evaluator.type', 'test_pipeline.0.type',
    'val_pipeline', 'train_cfg.val_interval', 'train_cfg.val_begin',
    'train_cfg.dynamic_intervals', 'model.teacher_ckpt', 'teacher_ckpt',
    'train_dataloader.dataset.data_root', 'data_root',
    'train_dataloader.dataset.datasets.1.data_prefix.img_path',
    'train_dataloader.dataset.ann_file',
    'train_dataloader.dataset.backend_args.backend',
    'model.architecture.init_cfg.checkpoint', 'model.teacher.init_cfg'
])
def test_ignored(key):
    assert is_ignored(key)


@pytest.mark.parametrize('key', [
    'model.distiller.distill_losses.loss_dckd.tau', 'model.teacher.backbone',
    'optim_wrapper.optimizer.lr', 'param_scheduler.0.end',
    'train_cfg.max_epochs', 'train_cfg.by_epoch',
    'train_dataloader.batch_size',
    'train_dataloader.dataset.pipeline.0.type', 'train_dataloader.sampler',
    'auto_scale_lr.enable', 'randomness.seed',
    'default_hooks.param_scheduler.type', 'default_hooks.sampler_seed',
    'custom_hooks.0.type', 'data_preprocessor.mean', 'default_scope',
    'teacher_from_scratch', 'model.my_data_root_x', 'workdir',
    'default_hooks.checkpoints', 'train_cfg.val_intervals'
])
def test_compared(key):
    assert not is_ignored(key)


def test_ignored_keys_do_not_count():
    old = parse_config_text(pretty(VALUES))
    new = dict(old, work_dir='/elsewhere', launcher='pytorch',
               experiment_name='run_2')
    new['train_dataloader'] = dict(
        old['train_dataloader'],
        dataset=dict(old['train_dataloader']['dataset'], data_root='/data'))
    assert diff_configs(old, new) == []
    assert diff_configs(old, new, ignored=lambda key: False) != []


def test_format_change():
    assert format_change(
        Change('model.distiller.distill_losses.loss_dckd.tau', 4.0, 2.0)
    ) == 'model.distiller.distill_losses.loss_dckd.tau: 4.0 -> 2.0'
    assert format_change(Change('optim_wrapper.optimizer.type', 'SGD',
                                'AdamW')) == \
        "optim_wrapper.optimizer.type: 'SGD' -> 'AdamW'"
    assert format_change(Change('a.b', MISSING, [1])) == 'a.b: <absent> -> [1]'


def test_ignored_keys_are_documented():
    """The module's docstring and docs/reliability.md list every ignored
    key and name."""
    with open(osp.join(ROOT, 'docs/reliability.md')) as f:
        docs = f.read()
    for key in (*IGNORED_KEYS, *IGNORED_NAMES):
        assert f'``{key}``' in config_diff.__doc__, key
        assert f'`{key}`' in docs, key
