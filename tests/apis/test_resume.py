# Copyright (c) dckd_mm contributors. All rights reserved.
"""Resume is exact or refused (tools/train.py --resume, run in-process on
the session's digits run, ``trained`` in conftest.py): weights-only files,
another architecture or another teacher are refused, nothing to resume is
an error unless --start-over, an unreadable last_checkpoint falls back to
the newest complete checkpoint. Config changes: test_resume_changes.py."""
import shutil

import pytest
import torch
from mmengine.config import Config

import dckd_mm  # noqa: F401
from tests.helpers import run_tool, save_teacher_ckpt

# the session's run trained its 2-epoch config for 1 epoch: resuming it
# with the same config is --cfg-options train_cfg.max_epochs=1
SAME = ('--cfg-options', 'train_cfg.max_epochs=1')


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


def test_resume_checks_the_teacher(trained, tmp_path):
    """Flipped bytes in the resume checkpoint's teacher used to load
    silently."""
    ckpt = torch.load(trained['ckpt'], weights_only=False)
    key = next(k for k in ckpt['state_dict']
               if k.startswith('teacher.') and k.endswith('conv1.weight'))
    ckpt['state_dict'][key] = ckpt['state_dict'][key] + 1.0
    work = resume_dir(trained, tmp_path, ckpt)
    res = run_tool('tools/train.py', trained['cfg'], '--work-dir', work,
                   '--resume', *SAME)
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
                   '--resume', '--teacher-ckpt', other, *SAME)
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
    """Refused as a config change (test_resume_changes.py); accepted as
    one, the checkpoint still does not fit."""
    work = resume_dir(trained, tmp_path)
    res = run_tool('tools/train.py', trained['cfg'], '--work-dir', work,
                   '--resume', '--cfg-options',
                   'model.architecture.backbone.arch=resnet14')
    assert res.returncode == 2
    assert ("model.architecture.backbone.arch: 'resnet8' -> 'resnet14'"
            in res.stderr)
    res = run_tool('tools/train.py', trained['cfg'], '--work-dir', work,
                   '--resume', '--resume-with-changes', '--cfg-options',
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


def test_unreadable_last_checkpoint_falls_back(trained, tmp_path):
    """A last_checkpoint of bytes that are not text used to end --resume
    (even with --start-over) with UnicodeDecodeError; a folder in its
    place with IsADirectoryError."""
    import logging

    from mmengine.logging import MMLogger

    from dckd_mm.compat.atomic_checkpoints import robust_find_latest
    work = resume_dir(trained, tmp_path)
    pointer = tmp_path / 'resume' / 'last_checkpoint'
    pointer.write_bytes(b'\xff\xfe')
    with pytest.raises(UnicodeDecodeError):
        open(pointer).read()  # what mmengine's find_latest_checkpoint does
    seen = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: seen.append(record.getMessage())
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        assert robust_find_latest(work) == str(tmp_path / 'resume' /
                                               'epoch_1.pth')
        pointer.unlink()
        pointer.mkdir()
        assert robust_find_latest(work) == str(tmp_path / 'resume' /
                                               'epoch_1.pth')
    finally:
        logger.removeHandler(handler)
    assert len(seen) == 2
    assert 'UnicodeDecodeError' in seen[0] and 'cannot be read' in seen[0]
    assert 'IsADirectoryError' in seen[1]
    pointer.rmdir()
    pointer.write_bytes(b'\xff\xfe')
    res = run_tool('tools/train.py', trained['cfg'], '--work-dir', work,
                   '--resume', '--cfg-options', 'train_cfg.max_epochs=1')
    assert res.returncode == 0, res.stderr[-3000:]
    # nothing else there: --start-over starts from epoch 0
    empty = tmp_path / 'empty'
    empty.mkdir()
    (empty / 'last_checkpoint').write_bytes(b'\xff\xfe')
    res = run_tool('tools/train.py', trained['cfg'], '--work-dir',
                   str(empty), '--resume', '--start-over', '--cfg-options',
                   'train_cfg.max_epochs=1')
    assert res.returncode == 0, res.stderr[-3000:]
    assert (empty / 'epoch_1.pth').exists()
    res = run_tool('tools/train.py', trained['cfg'], '--work-dir',
                   str(tmp_path / 'empty2'), '--resume')
    assert res.returncode == 2
