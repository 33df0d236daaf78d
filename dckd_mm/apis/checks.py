# Copyright (c) dckd_mm contributors. All rights reserved.
"""Checks of a loaded config that run before any model or dataset is
built: the teacher checkpoint, loss weights, files on disk."""
import math
import os.path as osp
from typing import Any, Mapping, Sequence

from mmengine.config import Config

from ..datasets.preflight import preflight_dataset
from ..errors import ConfigError, HostBuildError, MissingFileError
from .config import is_distillation, unset

__all__ = [
    'check_teacher', 'check_loss_options', 'preflight', 'check_mmcv_cuda'
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
    :func:`~dckd_mm.models.losses.check_dckd_options`) and a negative or
    non-finite ``loss_weight`` of any other loss: a negative weight turns
    distillation into anti-distillation without any other sign.

    Args:
        cfg (Config): the config.

    Raises:
        ConfigError: naming the config key and the value.
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
            else:
                value = node.get('loss_weight')
                if isinstance(value, (int, float)) and not isinstance(
                        value, bool) and not (math.isfinite(value)
                                              and value >= 0):
                    raise ConfigError(
                        f'{where}.loss_weight = {value}: loss weights must '
                        'be finite and >= 0 (a negative weight pushes the '
                        'student away from the teacher).')
            for key, value in node.items():
                walk(value, f'{where}.{key}')
        elif isinstance(node, (list, tuple)):
            for i, value in enumerate(node):
                walk(value, f'{where}[{i}]')

    walk(cfg.get('model'), 'model')


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
