# Copyright (c) dckd_mm contributors. All rights reserved.
"""Bad values the launcher meets (D8, D11): each is ``error: ...`` with
exit 2, names the key (or file) and what is allowed, and leaves no work
dir behind.

- a dataset that exists but is bad (it passes the preflight and fails when
  the Runner builds it): the clean-up used to read ``runner.iter``, which
  built the dataset again and raised before the work dir was removed;
- a work dir that is a file or cannot be written;
- CIFAR ``fine_labels`` of another shape than ``(N,)``;
- a ``loss_weight`` that is not a number >= 0, in any loss;
- batch sizes and loop lengths out of range.
"""
import os
import os.path as osp
import pickle
from typing import Optional

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.runner import Runner

import dckd_mm  # noqa: F401
from dckd_mm.apis.checks import (check_loop_options, check_loss_options,
                                 check_work_dir)
from dckd_mm.datasets import SafeCIFAR100
from dckd_mm.errors import ConfigError, DatasetError, OutputPathError
from tests.fixtures.filesystems import make_read_only, tmpfs
from tests.helpers import (ToolResult, run_name, run_tool, save_teacher_ckpt,
                           tiny_run_cfg, write_cifar100)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CIFAR_CFG = 'configs/dckd/res32x4_res8x4_cifar100.py'
FEAT = 'model.distiller.distill_losses.loss_feat.loss_weight'


@pytest.fixture
def no_runner(monkeypatch):
    """Building a Runner fails the test: the check must come first."""

    def refuse(*args, **kwargs):
        raise AssertionError('a Runner was built')

    monkeypatch.setattr(Runner, 'from_cfg', refuse)


@pytest.fixture(scope='module')
def cifar(tmp_path_factory):
    """A tiny CIFAR-100 DCKD config dumped to a file, with its teacher."""
    tmp = tmp_path_factory.mktemp('values')
    root = write_cifar100(str(tmp / 'cifar'), 4, 4)
    cfg = tiny_run_cfg(CIFAR_CFG, str(tmp / 'unused'), root)
    teacher = str(tmp / 'teacher.pth')
    save_teacher_ckpt(cfg.model.teacher.to_dict(), teacher)
    cfg.model.teacher_ckpt = teacher
    path = str(tmp / 'cfg.py')
    cfg.dump(path)
    return dict(cfg=path, root=root)


def _write_cifar_train(root: str, **changes) -> str:
    """Replace entries of the train pickle that write_cifar100 wrote;
    returns its path."""
    path = osp.join(root, 'cifar-100-python', 'train')
    with open(path, 'rb') as f:
        entry = pickle.load(f, encoding='latin1')
    entry.update(changes)
    with open(path, 'wb') as f:
        pickle.dump(entry, f, protocol=2)
    return path


def _train(cfg: str, work, *options: str,
           data_root: Optional[str] = None) -> ToolResult:
    """``tools/train.py`` in this process with ``--cfg-options``
    ``options`` (and an experiment name of its own: in-process runs share
    mmengine's logger per name)."""
    args = ['--data-root', data_root] if data_root else []
    return run_tool('tools/train.py', cfg, '--work-dir', str(work), *args,
                    '--cfg-options', *options,
                    f'experiment_name={run_name("values")}')


def _error_line(res: ToolResult) -> str:
    assert res.returncode == 2, res.stderr[-3000:]
    assert 'Traceback' not in res.stderr, res.stderr[-3000:]
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith('error:')]
    assert len(lines) == 1, res.stderr[-3000:]
    return lines[0]


# -- D8: a dataset that passes the preflight and fails when built ----------

@pytest.mark.parametrize('labels,message', [
    (lambda n: [float(i) + 0.5 for i in range(n)],
     "'fine_labels' are float64, not integer class indices"),
    (lambda n: np.arange(n).reshape(n, 1),
     "'fine_labels' has shape (4, 1), expected (N,) with N = 4"),
], ids=['float-labels', 'column-labels'])
def test_a_bad_dataset_after_the_preflight_leaves_no_work_dir(
        cifar, tmp_path, labels, message):
    """D8: the train file exists (the preflight passes) but is bad, so the
    Runner fails while building the train loop. The clean-up read
    ``runner.iter``, which built the loop again, raised again and left the
    work dir (its log folder and config dump) behind. Now: exit 2 with the
    dataset's message, no work dir."""
    root = write_cifar100(str(tmp_path / 'data'), 4, 4)
    path = _write_cifar_train(root, fine_labels=labels(4))
    work = tmp_path / 'a' / 'work'
    res = _train(cifar['cfg'], work, data_root=root)
    line = _error_line(res)
    assert line.startswith(f'error: {path}: {message}'), line
    assert not (tmp_path / 'a').exists()


# -- D11: the work dir -----------------------------------------------------

def test_a_work_dir_that_is_a_file_is_refused(cifar, tmp_path, no_runner):
    """It used to end in mmengine's mkdir with a FileExistsError traceback.
    """
    work = tmp_path / 'results'
    work.write_text('my notes')
    line = _error_line(_train(cifar['cfg'], work))
    assert line == (f'error: work dir {work} is a file, not a folder: pass '
                    'another --work-dir (or move the file away). Nothing was '
                    'written.')
    assert work.read_text() == 'my notes'
    assert os.listdir(tmp_path) == ['results']
    res = run_tool('tools/test.py', cifar['cfg'], cifar['cfg'], '--work-dir',
                   str(work))
    assert _error_line(res).startswith(f'error: work dir {work} is a file')
    with pytest.raises(OutputPathError, match=f'{work} is a file, not a '
                       'folder, so the work dir cannot be created'):
        check_work_dir(str(work / 'sub' / 'dir'))


@pytest.mark.skipif(os.geteuid() == 0,
                    reason='root writes into a chmod 555 folder; the read-'
                    'only mount test covers root')
def test_a_work_dir_in_a_folder_without_write_permission(cifar, tmp_path,
                                                         no_runner):
    parent = tmp_path / 'locked'
    parent.mkdir()
    parent.chmod(0o555)
    try:
        work = parent / 'work'
        line = _error_line(_train(cifar['cfg'], work))
        assert line.startswith(f'error: work dir {work}: the folder {parent} '
                               'is not writable'), line
        assert os.listdir(parent) == []
        parent.chmod(0o755)
        work.mkdir()
        work.chmod(0o555)
        line = _error_line(_train(cifar['cfg'], work))
        assert line.startswith(f'error: work dir {work}: the work dir {work} '
                               'is not writable'), line
        assert os.listdir(work) == []
    finally:
        for folder in (parent / 'work', parent):
            if folder.exists():
                folder.chmod(0o755)


def test_a_work_dir_on_a_read_only_filesystem(cifar, tmp_path, no_runner):
    """A read-only mount stops root too (chmod does not). It used to end in
    a PermissionError/OSError traceback from mmengine's mkdir."""
    with tmpfs(str(tmp_path / 'ro')) as disk:
        (tmp_path / 'ro' / 'old').mkdir()
        make_read_only(disk)
        for work, folder, which in (
                (osp.join(disk, 'new', 'work'), disk, 'the folder'),
                (osp.join(disk, 'old'), osp.join(disk, 'old'),
                 'the work dir')):
            line = _error_line(_train(cifar['cfg'], work))
            assert line.startswith(f'error: work dir {work}: {which} '
                                   f'{folder} is not writable (permissions '
                                   'or a read-only filesystem)'), line
            assert sorted(os.listdir(disk)) == ['old']
            assert os.listdir(osp.join(disk, 'old')) == []
        res = run_tool('tools/test.py', cifar['cfg'], cifar['cfg'],
                       '--work-dir', osp.join(disk, 'old'))
        assert 'is not writable' in _error_line(res)


# -- D11: CIFAR labels of the wrong shape ----------------------------------

@pytest.mark.parametrize('labels,shape', [
    (np.arange(4).reshape(4, 1), '(4, 1)'),
    (np.arange(8).reshape(4, 2), '(4, 2)'),
    (np.arange(4).reshape(1, 4), '(1, 4)'),
    (np.array(3), '()'),
], ids=['column', 'two-per-image', 'row', 'scalar'])
def test_cifar_labels_of_another_shape_are_refused(tmp_path, labels, shape):
    """(N, 2) ended in numpy's "only length-1 arrays can be converted to
    Python scalars" and (N, 1) was taken without a word. Refused, naming
    the file, the key, the shape found and the shape expected; dckd_mm
    does not reshape labels."""
    root = write_cifar100(str(tmp_path), 4, 4)
    path = _write_cifar_train(root, fine_labels=labels)
    with pytest.raises(DatasetError) as info:
        SafeCIFAR100(data_root=root, verify_md5=False)
    assert str(info.value).startswith(
        f"{path}: 'fine_labels' has shape {shape}, expected (N,) with "
        'N = 4: one class index per image')


def test_ragged_cifar_labels_are_refused(tmp_path):
    root = write_cifar100(str(tmp_path), 4, 4)
    path = _write_cifar_train(root, fine_labels=[[1], [2, 3], [4], [5]])
    with pytest.raises(DatasetError,
                       match=f"{path}: 'fine_labels' is not a regular array"):
        SafeCIFAR100(data_root=root, verify_md5=False)


def test_flat_cifar_labels_still_load(tmp_path):
    root = write_cifar100(str(tmp_path), 4, 4)
    _write_cifar_train(root, fine_labels=np.array([3, 1, 4, 1]))
    ds = SafeCIFAR100(data_root=root, verify_md5=False)
    assert [ds.get_data_info(i)['gt_label'] for i in range(4)] == [3, 1, 4, 1]


# -- D11: loss weights -----------------------------------------------------

def test_a_loss_weight_that_is_not_a_number_names_its_key(trained, tmp_path,
                                                          no_runner):
    """``loss_weight=abc`` on the command line became the string 'abc'
    and failed inside the first training step with a TypeError traceback,
    after the work dir was written."""
    work = tmp_path / 'w'
    line = _error_line(_train(trained['cfg'], work,
                              f'{FEAT}=abc'))
    assert line.startswith(f"error: {FEAT} = 'abc': a loss weight must be a "
                           'real number >= 0, got a str.'), line
    assert not work.exists()


def _loss_cfg(loss: dict) -> Config:
    return Config(dict(model=dict(
        architecture=dict(head=dict(loss=dict(type='CrossEntropyLoss',
                                              loss_weight=1.0))),
        distiller=dict(distill_losses=dict(loss_x=loss)))))


LOSS_TYPES = ['mmrazor.KLDivergence', 'ChannelWiseDivergence', 'DKDLoss',
              'SimKDFeatureLoss', 'mmrazor.L2Loss']


@pytest.mark.parametrize('loss_type', LOSS_TYPES)
@pytest.mark.parametrize('value', [
    'abc', '1.0', True, None, [1.0], -0.5, float('nan'), float('inf')
], ids=repr)
def test_every_distill_loss_weight_is_checked(loss_type, value):
    with pytest.raises(ConfigError) as info:
        check_loss_options(_loss_cfg(dict(type=loss_type,
                                          loss_weight=value)))
    assert str(info.value).startswith(
        f'model.distiller.distill_losses.loss_x.loss_weight = {value!r}: ')


@pytest.mark.parametrize('value', [0, 0.0, 0.5, 1, 8.0])
def test_real_loss_weights_pass(value):
    check_loss_options(_loss_cfg(dict(type='mmrazor.KLDivergence',
                                      loss_weight=value)))


def test_the_student_head_loss_weight_is_checked_too():
    cfg = _loss_cfg(dict(type='mmrazor.KLDivergence'))
    cfg.model.architecture.head.loss.loss_weight = 'x'
    with pytest.raises(ConfigError, match=r"^model\.architecture\.head\.loss"
                       r"\.loss_weight = 'x': "):
        check_loss_options(cfg)


# -- D11: batch sizes and loop lengths -------------------------------------

@pytest.mark.parametrize('option,line', [
    ('train_dataloader.batch_size=0',
     'error: train_dataloader.batch_size = 0: must be an integer >= 1 (the '
     'number of samples per process and step).'),
    ('train_dataloader.batch_size=-2',
     'error: train_dataloader.batch_size = -2: must be an integer >= 1'),
    ('train_cfg.max_epochs=0',
     'error: train_cfg.max_epochs = 0: must be an integer >= 1 (the number '
     'of epochs to train).'),
    ('train_cfg.val_interval=0',
     'error: train_cfg.val_interval = 0: must be an integer >= 1'),
    ('val_dataloader.batch_size=0',
     'error: val_dataloader.batch_size = 0: must be an integer >= 1'),
])
def test_a_training_with_a_bad_loop_value_is_refused(cifar, tmp_path,
                                                     no_runner, option,
                                                     line):
    """These used to end in torch's or mmengine's tracebacks (exit 1) once
    the Runner had written the work dir."""
    work = tmp_path / 'w'
    got = _error_line(_train(cifar['cfg'], work, option))
    assert got.startswith(line), got
    assert f'--cfg-options {option.split("=")[0]}=N' in got
    assert not work.exists()


def test_a_test_with_a_bad_batch_size_is_refused(cifar, tmp_path,
                                                 no_runner):
    work = tmp_path / 'w'
    res = run_tool('tools/test.py', cifar['cfg'], cifar['cfg'], '--work-dir',
                   str(work), '--cfg-options', 'test_dataloader.batch_size=0')
    assert _error_line(res).startswith(
        'error: test_dataloader.batch_size = 0: must be an integer >= 1')
    assert not work.exists()


def _loop_cfg(**train_cfg) -> Config:
    loader = dict(batch_size=2, num_workers=0)
    return Config(dict(train_dataloader=dict(loader),
                       val_dataloader=dict(loader),
                       test_dataloader=dict(loader),
                       train_cfg=train_cfg or dict(by_epoch=True,
                                                   max_epochs=2)))


@pytest.mark.parametrize('key,value', [
    ('train_dataloader.batch_size', -2), ('train_dataloader.batch_size', 'x'),
    ('train_dataloader.batch_size', True),
    ('train_dataloader.batch_size', 2.0),
    ('train_dataloader.num_workers', -1), ('val_dataloader.batch_size', 0),
    ('train_cfg.max_epochs', 0), ('train_cfg.max_epochs', -1),
    ('train_cfg.val_interval', 0), ('train_cfg.val_interval', -3),
], ids=str)
def test_loop_values_out_of_range(key, value):
    cfg = _loop_cfg()
    section, name = key.split('.')
    cfg[section][name] = value
    with pytest.raises(ConfigError) as info:
        check_loop_options(cfg)
    assert str(info.value).startswith(f'{key} = {value!r}: must be an '
                                      'integer >= ')


def test_an_iteration_based_loop_is_checked():
    cfg = _loop_cfg(type='IterBasedTrainLoop', max_iters=0, val_interval=10)
    with pytest.raises(ConfigError, match=r'^train_cfg\.max_iters = 0: must '
                       r'be an integer >= 1 \(the number of iterations'):
        check_loop_options(cfg)
    cfg.train_cfg.max_iters = 100
    check_loop_options(cfg)


def test_only_the_splits_of_the_run_are_checked():
    cfg = _loop_cfg()
    cfg.test_dataloader.batch_size = 0
    check_loop_options(cfg)  # a training does not build the test loader
    with pytest.raises(ConfigError, match='test_dataloader.batch_size'):
        check_loop_options(cfg, ('test', ))
    cfg.test_dataloader.batch_size = 1
    cfg.train_cfg.max_epochs = 0
    check_loop_options(cfg, ('test', ))  # a test has no train loop


def _configs() -> list:
    found = []
    for base, _, names in os.walk(osp.join(ROOT, 'configs')):
        if '_base_' in base:
            continue
        found += [osp.join(base, n) for n in names if n.endswith('.py')]
    return sorted(found)


@pytest.mark.parametrize('config', _configs(),
                         ids=lambda p: osp.relpath(p, ROOT))
def test_every_config_passes_the_new_checks(config):
    """No config of the repository is refused by the checks added here."""
    from dckd_mm.apis.config import is_detection
    from dckd_mm.models.detection import detection_unavailable
    if 'coco' in osp.basename(config) and detection_unavailable():
        pytest.skip(detection_unavailable())
    cfg = Config.fromfile(config)
    if is_detection(cfg) and detection_unavailable():
        pytest.skip(detection_unavailable())
    check_loss_options(cfg)
    check_loop_options(cfg, ('train', 'val', 'test'))
