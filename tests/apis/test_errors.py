# Copyright (c) dckd_mm contributors. All rights reserved.
"""One error surface: the tools print a user error (a ``DCKDError``) as one
line ``error: ...`` with exit status 2 and remove a work dir they created;
a bug keeps its traceback, wherever in dckd_mm it was raised."""
import os.path as osp
import traceback

import pytest
import torch
from mmengine.config import Config

import dckd_mm  # noqa: F401
from dckd_mm import errors
from dckd_mm.apis import (USER_ERRORS, check_loss_options, is_user_error,
                          report_error)
from dckd_mm.errors import ConfigError, DatasetError, MissingFileError
from tests.helpers import run_name, run_tool


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


def _bug_in(module, message: str):
    """A function that raises a plain ``ValueError`` from ``module``'s own
    file: a bug in dckd_mm, as the traceback shows it (the old rule took
    every ``ValueError`` raised in dckd_mm's files for the user's)."""
    namespace = {}
    code = (f'def bug(*args, **kwargs):\n'
            f'    raise ValueError({message!r})\n')
    exec(compile(code, module.__file__, 'exec'), namespace)
    return namespace['bug']


def test_a_bug_inside_dckd_mm_keeps_its_traceback(trained, tmp_path,
                                                  monkeypatch):
    import dckd_mm.apis.resume as resume
    monkeypatch.setattr(resume, 'describe_mismatch',
                        _bug_in(resume, 'internal invariant broken'))
    with pytest.raises(ValueError) as info:
        resume.check_fits({}, torch.nn.Linear(1, 1), 'x.pth', '')
    frame = traceback.extract_tb(info.value.__traceback__)[-1]
    assert osp.samefile(frame.filename, resume.__file__)  # raised in dckd_mm
    assert not is_user_error(info.value)
    work = tmp_path / 't'
    res = run_tool('tools/test.py', trained['cfg'], trained['ckpt'],
                   '--work-dir', str(work))
    assert res.returncode == 1
    assert 'Traceback' in res.stderr
    assert 'ValueError: internal invariant broken' in res.stderr
    assert not res.stderr.startswith('error: ')


def test_a_dckd_error_from_a_tool_is_one_line(trained, tmp_path,
                                              monkeypatch):
    """Any DCKDError, raised anywhere in the run, is the user's."""
    import dckd_mm.apis.resume as resume

    def refuse(state, reference):
        raise DatasetError('the test set moved')

    monkeypatch.setattr(resume, 'describe_mismatch', refuse)
    work = tmp_path / 't'
    res = run_tool('tools/test.py', trained['cfg'], trained['ckpt'],
                   '--work-dir', str(work))
    assert res.returncode == 2
    assert res.stderr.startswith('error: the test set moved\n')
    assert 'Traceback' not in res.stderr
    assert not work.exists()


@pytest.mark.parametrize('name', errors.__all__)
def test_every_error_class_survives_mmengine_re_raise(name):
    """mmengine's registry re-raised a constructor's error as
    ``type(e)(f'class ...: {e}')``: one message argument must rebuild each
    class, still a DCKDError and its builtin."""
    cls = getattr(errors, name)
    assert issubclass(cls, errors.DCKDError)
    err = cls('tau must be > 0')
    again = type(err)(f'class `DCKDLoss` in dckd_mm.models.losses: {err}')
    assert type(again) is cls and is_user_error(again)
    assert str(again) == ('class `DCKDLoss` in dckd_mm.models.losses: '
                          'tau must be > 0')
    builtin = [b for b in cls.__mro__ if b.__module__ != errors.__name__
               and b not in (Exception, BaseException, object)]
    assert builtin or cls is errors.DCKDError
    assert all(isinstance(again, b) for b in builtin)


def test_user_errors_are_found_through_the_chain(capsys):
    # re-raised as another type, carrying the message: the user's
    try:
        try:
            raise ConfigError('tau must be > 0')
        except ConfigError as inner:
            raise RuntimeError(f'class `DCKDLoss`: {inner}') from inner
    except RuntimeError as err:
        assert is_user_error(err)
        assert report_error(err) == 2
    assert capsys.readouterr().err == \
        'error: class `DCKDLoss`: tau must be > 0\n'
    # a bug while handling a user error stays a bug
    try:
        try:
            raise DatasetError('no data')
        except DatasetError:
            {}['missing']
    except KeyError as err:
        assert not is_user_error(err)
        assert report_error(err) == 1
    printed = capsys.readouterr().err
    assert 'Traceback' in printed and "KeyError: 'missing'" in printed
    assert not printed.startswith('error: ')


def test_user_errors_tuple_is_the_base_class():
    assert USER_ERRORS == (errors.DCKDError, )
    assert isinstance(MissingFileError('x'), USER_ERRORS)
    assert not isinstance(FileNotFoundError('x'), USER_ERRORS)
