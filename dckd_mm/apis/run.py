# Copyright (c) dckd_mm contributors. All rights reserved.
"""The runs: what ``tools/train.py`` and ``tools/test.py`` do once the
config is loaded.

Each run checks what would otherwise go silently wrong (:mod:`.checks`,
:mod:`.resume`) before mmengine's ``Runner`` is built, holds its work dir
for its whole lifetime (:mod:`.worklock`: a second run into it is
refused), removes a work dir it created for a run that never started, and
on success waits for every rank before the process group is destroyed.
On an error there is no barrier: another rank may be inside a collective
and would never reach it; the tool exits and the launcher ends the others.
"""
import os.path as osp
from typing import Any, Optional

import mmengine
from mmengine.config import Config
from mmengine.evaluator import DumpResults
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.runner import Runner

from ..compat.safe_loading import safe_load
from ..errors import ConfigError, MissingFileError
from ..models.algorithms.teacher_mode import check_frozen_teacher_mode
from ..utils.atomic import atomic_write, check_output
from ..utils.checkpoint import extract_state_dict
from .checks import (check_loop_options, check_loss_options, check_teacher,
                     check_work_dir, preflight)
from .config import is_distillation, tested_model
from .report import is_user_error
from .resume import (check_fits, check_resume_config, check_resumed_teacher,
                     resume_checkpoint)
from .worklock import WorkDirLock, hold_work_dir

__all__ = ['run_train', 'run_test']


def run_train(cfg: Config, resume: Optional[str] = None,
              start_over: bool = False,
              resume_with_changes: bool = False) -> Runner:
    """Train ``cfg``.

    Args:
        cfg (Config): from :func:`dckd_mm.apis.load_config`.
        resume (str, optional): ``'auto'`` (latest resumable checkpoint of
            the work dir) or a checkpoint path.
        start_over (bool): with ``resume='auto'``, start from epoch 0 when
            the work dir holds nothing to resume; otherwise that is an
            error.
        resume_with_changes (bool): resume although the config differs
            from the checkpoint's in settings that change training; the
            changes are applied, logged and recorded
            (:func:`~dckd_mm.apis.resume.check_resume_config`).

    Returns:
        Runner: the runner, after training.

    Raises:
        MissingFileError: missing teacher or resume checkpoint.
        DatasetError: missing data.
        ConfigError: no teacher checkpoint for a distillation config, a
            loss weight that is not a number >= 0, a batch size or loop
            length out of range, a frozen teacher that would run dropout
            or stochastic depth
            (:func:`~dckd_mm.models.algorithms.teacher_mode.
            check_frozen_teacher_mode`).
        CheckpointError: a resume checkpoint without optimizer state, for
            another model, with another teacher, or saved with a config
            that differs (without ``resume_with_changes``).
        OutputPathError: the work dir is in use by another run, is a
            file, or cannot be written (nothing written).
    """
    check_work_dir(cfg.work_dir)
    with hold_work_dir(cfg.work_dir, cfg.get('launcher', 'none')) as lock:
        runner = _train(cfg, resume, start_over, resume_with_changes, lock)
        _close_process_group()
    return runner


def _train(cfg: Config, resume: Optional[str], start_over: bool,
           resume_with_changes: bool, lock: WorkDirLock) -> Runner:
    runner = None
    started = _Started()
    try:
        check_teacher(cfg)
        check_loss_options(cfg)
        check_loop_options(cfg)
        preflight(cfg)
        path = ckpt = None
        if resume is None and cfg.get('resume'):  # set in the config
            resume = cfg.get('load_from') or 'auto'
        if resume_with_changes and resume is None:
            raise ConfigError('--resume-with-changes needs --resume (or '
                              'resume=True in the config).')
        if resume is not None:
            path, ckpt = resume_checkpoint(cfg, resume, start_over)
        changes = None if ckpt is None else check_resume_config(
            cfg, ckpt, path, resume_with_changes)
        cfg.resume = path is not None
        if path is not None:
            cfg.load_from = path
        runner = Runner.from_cfg(cfg)
        check_frozen_teacher_mode(_bare_model(runner))
        runner.register_hook(started)
        if changes is not None:
            runner.register_hook(changes)
        if ckpt is not None:
            state = extract_state_dict(ckpt)
            del ckpt
            model = _bare_model(runner)
            check_fits(
                state, model, path, '--resume needs the config the run was '
                'started with; to train another architecture from these '
                'weights, start a new run with load_from.')
            check_resumed_teacher(cfg, state, model, path)
            del state
        runner.train()
    except BaseException as err:
        # not runner.iter: it builds the train loop when it is not built
        # yet, re-reading the dataset that may be what failed
        if is_user_error(err) and not started.ran:
            lock.remove_work_dir()  # only one this run created
        raise
    return runner


class _Started(Hook):
    """Records whether a training iteration has completed (``ran``), so
    that a failed run's clean-up never asks the runner, which would build
    what failed. First of the ``after_train_iter`` hooks: set before any
    checkpoint of the run can be written."""
    priority = 'HIGHEST'

    def __init__(self) -> None:
        self.ran = False

    def after_train_iter(self, runner: Runner, batch_idx: int,
                         data_batch: Any = None,
                         outputs: Optional[dict] = None) -> None:
        self.ran = True


def run_test(cfg: Config, checkpoint: str,
             out: Optional[str] = None, out_item: str = 'pred') -> dict:
    """Evaluate ``checkpoint`` with ``cfg``'s test loop.

    Args:
        cfg (Config): from :func:`dckd_mm.apis.load_config`.
        checkpoint (str): the checkpoint to score; it must fit the model.
        out (str, optional): also dump the predictions (one dict per test
            sample) to this ``.pkl`` file, with mmengine's ``DumpResults``
            metric appended to the test evaluator, as mmpretrain's
            ``tools/test.py --out`` does.
        out_item (str): what ``out`` receives: ``'pred'`` (the
            predictions, above) or ``'metrics'`` (the metrics dict, written
            by rank 0 after the test; ``.json``, ``.yaml`` or ``.pkl`` by
            its extension), as mmpretrain's ``--out-item``.

    Returns:
        dict: the test metrics.

    Raises:
        MissingFileError: no checkpoint file.
        DatasetError: missing test data.
        CheckpointError: the checkpoint does not fit the config's model
            (the message lists the missing, unexpected and misshapen keys).
        ConfigError: ``out`` is not a ``.pkl``/``.pickle`` file (for the
            metrics: nor ``.json``/``.yaml``/``.yml``).
        OutputPathError: ``out`` is a folder or its folder cannot be
            written (checked before the test runs).
        OutOfSpaceError: the disk filled up while ``out`` was written; an
            existing file under that name is left as it was.
        OutputPathError: the work dir is in use by another run (a
            training or a test: the test's log folder and config dump go
            into it), is a file, or cannot be written (nothing written).
    """
    check_work_dir(cfg.work_dir)
    with hold_work_dir(cfg.work_dir, cfg.get('launcher', 'none')) as lock:
        metrics = _test(cfg, checkpoint, out, out_item, lock)
        _close_process_group()
    return metrics


def _test(cfg: Config, checkpoint: str, out: Optional[str], out_item: str,
          lock: WorkDirLock) -> dict:
    try:
        check_loop_options(cfg, ('test', ))
        if out is not None:
            _check_out(out, out_item)
        if not osp.isfile(osp.expanduser(checkpoint)):
            raise MissingFileError(
                f'checkpoint {checkpoint} does not exist.')
        if is_distillation(cfg):
            # predict mode runs the student alone and the checkpoint holds
            # every weight it needs: no teacher file to find or load
            tested_model(cfg).teacher_ckpt = None
        preflight(cfg, ('test_dataloader', ))
        state = extract_state_dict(safe_load(checkpoint, map_location='cpu'))
        cfg.load_from = checkpoint
        runner = Runner.from_cfg(cfg)
        check_fits(
            state, _bare_model(runner), checkpoint,
            'Test it with the config it was trained with (an exported '
            'student with the config written beside it).',
            need_teacher=False)
        del state
        if out is not None and out_item == 'pred':
            _dump_predictions(runner, out)
        metrics = runner.test()
        if out is not None and out_item == 'metrics':
            _dump_metrics(metrics, out)
    except BaseException as err:
        if is_user_error(err):
            lock.remove_work_dir()  # only one this run created
        raise
    return metrics


def _bare_model(runner: Runner) -> Any:
    """The model itself: inside a DDP wrapper and a ``--tta`` wrapper."""
    from mmengine.model import BaseTTAModel, is_model_wrapper
    model = runner.model
    if is_model_wrapper(model):
        model = model.module
    return model.module if isinstance(model, BaseTTAModel) else model


_METRIC_FORMATS = {'.pkl': 'pkl', '.pickle': 'pkl', '.json': 'json',
                   '.yaml': 'yaml', '.yml': 'yaml'}


def _check_out(out: str, out_item: str = 'pred') -> None:
    """Refuse an ``--out`` that could not be written, before the test
    runs: not a ``.pkl``/``.pickle`` name (the metrics may also be
    ``.json``/``.yaml``/``.yml``), a folder, or a name whose folder cannot
    be written."""
    if out_item == 'metrics':
        if osp.splitext(out)[1] not in _METRIC_FORMATS:
            raise ConfigError(
                f'--out {out} --out-item metrics: name a file ending in '
                '.json, .yaml, .yml, .pkl or .pickle (the format follows '
                'the extension).')
    elif not out.endswith(('.pkl', '.pickle')):
        raise ConfigError(
            f'--out {out}: the predictions are dumped as a pickle; '
            'name a file ending in .pkl (or .pickle).')
    check_output(out, '--out')


def _dump_metrics(metrics: dict, out: str) -> None:
    """Write the metrics dict to ``out`` (rank 0), all or nothing, in the
    format of its extension (``--out-item metrics``)."""
    from mmengine.dist import is_main_process
    if not is_main_process():
        return
    text = mmengine.dump(dict(metrics),
                         file_format=_METRIC_FORMATS[osp.splitext(out)[1]])
    data = text.encode() if isinstance(text, str) else text
    atomic_write(out, lambda f: f.write(data))


def _dump_predictions(runner: Runner, out: str) -> None:
    """Append :class:`_AtomicDumpResults` (mmengine's ``DumpResults``,
    written all or nothing) to the test evaluator: the test loop then
    writes every prediction to ``out``."""
    evaluator = runner.test_evaluator
    if evaluator is None:
        raise ConfigError(f'--out {out}: the config has no test_evaluator.')
    out = osp.abspath(osp.expanduser(out))
    evaluator.metrics.append(_AtomicDumpResults(out_file_path=out))


class _AtomicDumpResults(DumpResults):
    """mmengine's ``DumpResults``, writing its pickle with
    :func:`dckd_mm.utils.atomic.atomic_write`: a full disk or a kill
    never leaves a truncated file under the ``--out`` name (an existing
    one stays as it was), and a full disk is an ``OutOfSpaceError``."""

    def compute_metrics(self, results: list) -> dict:
        """Dump ``results`` to ``out_file_path``, all or nothing."""
        atomic_write(self.out_file_path,
                     lambda f: mmengine.dump(results, f, file_format='pkl'))
        print_log(f'Results has been saved to {self.out_file_path}.',
                  logger='current')
        return {}


def _close_process_group() -> None:
    """After a successful run: wait for every rank, then destroy the
    process group before the interpreter exits (mmengine never does, and
    gloo's threads still running during interpreter teardown abort the
    process now and then). Never called on an error path."""
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
