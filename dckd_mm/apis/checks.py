# Copyright (c) dckd_mm contributors. All rights reserved.
"""Checks of a loaded config that run before any model or dataset is
built: the teacher checkpoint, loss weights, loop and batch values, the
work dir, files on disk."""
import math
import os
import os.path as osp
from numbers import Real
from typing import Any, Mapping, Sequence

from mmengine.config import Config

from ..datasets.preflight import preflight_dataset
from ..errors import (ConfigError, HostBuildError, MissingFileError,
                      OutputPathError)
from .config import is_distillation, unset

__all__ = [
    'check_teacher', 'check_loss_options', 'check_loop_options',
    'check_work_dir', 'preflight', 'check_mmcv_cuda'
]


def check_teacher(cfg: Config) -> None:
    """A distillation config must name its teacher checkpoint.

    An empty or ``None`` ``model.teacher_ckpt`` (say, an unset shell
    variable) would distil from a randomly initialised teacher. That is
    refused unless the config sets ``teacher_from_scratch=True``
    (``--teacher-from-scratch``); then an unset value becomes None.

    Args:
        cfg (Config): the config, changed in place.

    Raises:
        ConfigError: no teacher checkpoint, or both one and the switch.
    """
    if not is_distillation(cfg):
        return
    ckpt = cfg.model.get('teacher_ckpt')
    scratch = bool(cfg.get('teacher_from_scratch', False))
    if unset(ckpt) and not scratch:
        raise ConfigError(
            f'model.teacher_ckpt is {ckpt!r}: the teacher would be randomly '
            'initialised. Pass the trained teacher with --teacher-ckpt PATH '
            '(or --cfg-options model.teacher_ckpt=PATH); if a random or '
            'jointly trained teacher is really intended, add '
            '--teacher-from-scratch.')
    if not unset(ckpt) and scratch:
        raise ConfigError(
            f'--teacher-from-scratch and model.teacher_ckpt={ckpt!r} '
            'contradict each other: drop one of them.')
    if unset(ckpt):
        cfg.model.teacher_ckpt = None


def check_loss_options(cfg: Config) -> None:
    """Refuse a DCKD option out of its range (every ``DCKDLoss`` node, with
    the loss's own validator,
    :func:`~dckd_mm.models.losses.check_dckd_options`) and a ``loss_weight``
    of any other loss (the student's head, every loss of
    ``distill_losses``, mmrazor's included) that is not a finite real
    number >= 0: a string (``loss_weight=abc`` on the command line), a
    bool or None would fail deep inside a training step, and a negative
    weight turns distillation into anti-distillation without any other
    sign.

    Args:
        cfg (Config): the config.

    Raises:
        ConfigError: naming the full config key and the value.
    """
    import inspect

    from ..models.losses import check_dckd_options
    dckd_keys = set(inspect.signature(check_dckd_options).parameters) - {
        'where'}

    def walk(node: Any, where: str) -> None:
        if isinstance(node, Mapping):
            if str(node.get('type', '')).split('.')[-1] == 'DCKDLoss':
                check_dckd_options(
                    where=where,
                    **{k: v for k, v in node.items() if k in dckd_keys})
            elif 'loss_weight' in node:
                _check_loss_weight(node['loss_weight'],
                                   f'{where}.loss_weight')
            for key, value in node.items():
                walk(value, f'{where}.{key}')
        elif isinstance(node, (list, tuple)):
            for i, value in enumerate(node):
                walk(value, f'{where}[{i}]')

    walk(cfg.get('model'), 'model')


def _is_number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def _check_loss_weight(value: Any, key: str) -> None:
    if not _is_number(value):
        raise ConfigError(
            f'{key} = {value!r}: a loss weight must be a real number >= 0, '
            f'got a {type(value).__name__}. Set it to a number (for example '
            f'--cfg-options {key}=1.0).')
    if not (math.isfinite(value) and value >= 0):
        raise ConfigError(
            f'{key} = {value!r}: loss weights must be finite and >= 0 (a '
            'negative weight pushes the student away from the teacher).')


# (config key under a dataloader, lowest value, what it is)
_DATALOADER_VALUES = (
    ('batch_size', 1, 'the number of samples per process and step'),
    ('num_workers', 0, 'the number of data loading processes'),
)
# (config key under train_cfg, what it is)
_LOOP_VALUES = (
    ('max_epochs', 'the number of epochs to train'),
    ('max_iters', 'the number of iterations to train'),
    ('val_interval', 'validate every N epochs (iterations for an '
     'iteration-based loop); to validate rarely, set it above the length '
     'of the run'),
)


def _check_integer(value: Any, key: str, lowest: int, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or \
            value < lowest:
        raise ConfigError(
            f'{key} = {value!r}: must be an integer >= {lowest} ({what}). '
            f'Fix it in the config or with --cfg-options {key}=N.')


def check_loop_options(cfg: Config,
                       splits: Sequence[str] = ('train', 'val')) -> None:
    """Refuse a batch size or loop length that mmengine or torch would
    reject only with a traceback once the Runner is built (and a work dir
    written): ``<split>_dataloader.batch_size`` (an integer >= 1) and
    ``num_workers`` (>= 0) of each split in ``splits``, and for ``'train'``
    the ``max_epochs``, ``max_iters`` and ``val_interval`` of ``train_cfg``
    that are set (each an integer >= 1).

    Args:
        cfg (Config): the config.
        splits (Sequence[str]): ``'train'``, ``'val'``, ``'test'``: the
            dataloaders (and, for ``'train'``, the loop) the run uses.

    Raises:
        ConfigError: naming the config key, the value and the allowed
            range.
    """
    for split in splits:
        key = f'{split}_dataloader'
        loader = cfg.get(key)
        if isinstance(loader, Mapping):
            for name, lowest, what in _DATALOADER_VALUES:
                if name in loader:
                    _check_integer(loader[name], f'{key}.{name}', lowest,
                                   what)
    loop = cfg.get('train_cfg') if 'train' in splits else None
    if isinstance(loop, Mapping):
        for name, what in _LOOP_VALUES:
            if name in loop:
                _check_integer(loop[name], f'train_cfg.{name}', 1, what)


def check_work_dir(work_dir: str) -> None:
    """Refuse, before anything is written, a work dir that cannot hold a
    run: a file, a path under a file, or a folder (the work dir or, when
    it does not exist yet, the nearest folder above it) that this process
    cannot write (permissions, or a read-only filesystem, which stops
    root too).

    Args:
        work_dir (str): the run's work dir.

    Raises:
        OutputPathError: naming the work dir, what is wrong and what to do.
    """
    full = osp.abspath(osp.expanduser(str(work_dir)))
    if osp.exists(full) and not osp.isdir(full):
        raise OutputPathError(
            f'work dir {work_dir} is a file, not a folder: pass another '
            '--work-dir (or move the file away). Nothing was written.')
    folder = full
    while not osp.exists(folder):
        folder = osp.dirname(folder)
    if not osp.isdir(folder):
        raise OutputPathError(
            f'work dir {work_dir}: {folder} is a file, not a folder, so the '
            'work dir cannot be created under it; pass another --work-dir. '
            'Nothing was written.')
    if not os.access(folder, os.W_OK | os.X_OK):
        which = 'the work dir' if folder == full else 'the folder'
        raise OutputPathError(
            f'work dir {work_dir}: {which} {folder} is not writable '
            '(permissions or a read-only filesystem); pass another '
            '--work-dir or make it writable. Nothing was written.')


def preflight(cfg: Config,
              splits: Sequence[str] = ('train_dataloader',
                                       'val_dataloader')) -> None:
    """Fail fast, before the Runner is built, on a missing teacher
    checkpoint, mmcv ops that cannot run on this machine's GPU, or missing
    data (each dataset type's own check, :mod:`dckd_mm.datasets.preflight`).

    Args:
        cfg (Config): the config.
        splits (Sequence[str]): the dataloaders whose datasets to check.

    Raises:
        MissingFileError: no teacher checkpoint at ``model.teacher_ckpt``.
        HostBuildError: a detector on a GPU with mmcv ops built without
            CUDA.
        DatasetError: a dataset's files are missing.
    """
    model = cfg.get('model', {})
    ckpt = model.get('teacher_ckpt') if isinstance(model, Mapping) else None
    if ckpt and not osp.isfile(osp.expanduser(ckpt)):
        source = (
            'Use an mmdet checkpoint of the teacher detector trained on COCO '
            '(mmdet\'s model zoo, or train it with its mmdet config)'
            if cfg.get('default_scope') == 'mmdet' else
            'Train the teacher with its config under configs/zoo/, or '
            'convert a RepDistiller/SimKD file with '
            'tools/model_converters/convert_repdistiller_ckpt.py')
        raise MissingFileError(
            f'teacher checkpoint {ckpt!r} (config key model.teacher_ckpt) '
            f'does not exist. {source}, then pass --teacher-ckpt PATH (or '
            '--cfg-options model.teacher_ckpt=PATH).')
    if cfg.get('default_scope') == 'mmdet':
        check_mmcv_cuda()
    for key in splits:
        preflight_dataset((cfg.get(key) or {}).get('dataset'))


def check_mmcv_cuda() -> None:
    """On a machine with a GPU, a detector runs mmcv's nms and RoIAlign on
    it: refuse at once when mmcv's ops were built without CUDA (as
    ``make venv`` builds them on a machine without the CUDA toolkit)
    instead of failing at the first RPN step.

    Raises:
        HostBuildError: naming the mmcv build and what to do (a
            ``RuntimeError`` too).
    """
    import torch
    if not torch.cuda.is_available():
        return
    from mmcv.ops import get_compiling_cuda_version
    if get_compiling_cuda_version() == 'not available':
        raise HostBuildError(
            'this machine has a GPU but mmcv\'s compiled ops were built '
            'without CUDA, so the detector\'s nms and RoIAlign cannot run '
            'on it. Rebuild mmcv with CUDA ops on a machine with the CUDA '
            'toolkit (FORCE_CUDA=1 in .dev_scripts/build_mmcv.sh), or run '
            'on the CPU with CUDA_VISIBLE_DEVICES="".')
