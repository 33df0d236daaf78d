# Copyright (c) dckd_mm contributors. All rights reserved.
"""Loading a config: reading it, what kind of run it is, and applying the
command-line options (each option's change to the config is in
:mod:`.overrides`)."""
import os.path as osp
import time
from typing import Any, Mapping, Optional

from mmengine.config import Config

from ..errors import ConfigError, MissingFileError, UnsupportedHostError
from .overrides import (disable_validation, enable_amp, enable_auto_scale_lr,
                        enable_show_dir, enable_tta, set_dataloaders)

__all__ = [
    'load_config', 'is_distillation', 'is_detection', 'unset',
    'tested_model'
]

_UNSET = ('', 'none', 'null')


def tested_model(cfg: Config) -> Any:
    """``cfg.model``, or the model a test-time augmentation wrapper
    (``--tta``: ``tta_model`` with the model as its ``module``) wraps.

    Args:
        cfg (Config): a config.

    Returns:
        Any: the model's config dict (None when the config has none).
    """
    model = cfg.get('model')
    while isinstance(model, Mapping) and isinstance(
            model.get('module'), Mapping):
        model = model['module']
    return model


def is_distillation(cfg: Config) -> bool:
    """Whether ``cfg``'s model distils from a teacher (it names a
    ``teacher`` or a ``teacher_ckpt``; inside a ``--tta`` wrapper too).

    Args:
        cfg (Config): a config.

    Returns:
        bool: True for a distillation config.
    """
    model = tested_model(cfg)
    return isinstance(model, Mapping) and (
        'teacher' in model or 'teacher_ckpt' in model)


def is_detection(cfg: Config) -> bool:
    """Whether ``cfg`` builds an mmdet detector (mmdet's default scope,
    or a model whose type names mmdet's registry)."""
    model = cfg.get('model')
    kind = str(model.get('type', '')) if isinstance(model, Mapping) else ''
    return cfg.get('default_scope') == 'mmdet' or kind.startswith(
        'mmdet.') or kind.endswith('RoIDCKDDistill')


def _read_config(config: str) -> Config:
    """``Config.fromfile``, stopping at once with what to install when
    the config needs detection and this host cannot run it (no mmdet, or
    mmcv without compiled ops)."""
    from ..models.detection import detection_unavailable
    try:
        cfg = Config.fromfile(config)
    except ModuleNotFoundError as err:
        if 'mmdet' not in str(err):
            raise
        raise UnsupportedHostError(
            f'{config} is a detection config, which needs mmdet: '
            f'{detection_unavailable() or err}') from err
    if is_detection(cfg):
        reason = detection_unavailable()
        if reason:
            raise UnsupportedHostError(
                f'{config} is a detection config, and detection cannot run '
                f'here: {reason}')
    return cfg


def unset(value: Any) -> bool:
    """Whether a config value such as ``teacher_ckpt`` is unset: None, or
    a blank, ``'none'`` or ``'null'`` string (say, an unset shell
    variable).

    Args:
        value (Any): the config value.

    Returns:
        bool: True when nothing is set.
    """
    return value is None or (isinstance(value, str) and
                             value.strip().lower() in _UNSET)


def load_config(config: str,
                work_dir: Optional[str] = None,
                cfg_options: Optional[dict] = None,
                launcher: str = 'none',
                amp: bool = False,
                teacher_ckpt: Optional[str] = None,
                data_root: Optional[str] = None,
                teacher_from_scratch: bool = False,
                auto_scale_lr: bool = False,
                no_validate: bool = False,
                no_pin_memory: bool = False,
                no_persistent_workers: bool = False,
                show_dir: Optional[str] = None,
                show_interval: int = 1,
                tta: bool = False) -> Config:
    """Read a config and apply the command-line overrides.

    Args:
        config (str): config file.
        work_dir (str, optional): overrides ``work_dir``.
        cfg_options (dict, optional): ``--cfg-options`` overrides.
        launcher (str): ``'none'``, ``'pytorch'``, ``'slurm'`` or
            ``'mpi'``. Without a GPU, a distributed run uses gloo.
        amp (bool): mixed precision (:func:`enable_amp`).
        teacher_ckpt (str, optional): sets ``model.teacher_ckpt``.
        data_root (str, optional): sets ``data_root`` of every dataset of
            the config's dataloaders that has one.
        teacher_from_scratch (bool): allow a distillation config without a
            teacher checkpoint (sets ``teacher_from_scratch=True``).
        auto_scale_lr (bool): scale the learning rate by the total batch
            size over the config's ``auto_scale_lr.base_batch_size``
            (mmengine's automatic LR scaling, :func:`enable_auto_scale_lr`).
        no_validate (bool): train without validation
            (:func:`disable_validation`).
        no_pin_memory (bool): ``pin_memory=False`` in every dataloader
            (:func:`set_dataloaders`).
        no_persistent_workers (bool): ``persistent_workers=False`` in
            every dataloader.
        show_dir (str, optional): draw the test predictions into this
            folder (:func:`enable_show_dir`).
        show_interval (int): with ``show_dir``, every how many test
            samples one is drawn (default 1: all).
        tta (bool): test with the config's test-time augmentation
            (:func:`enable_tta`).

    Returns:
        Config: the config with every override applied.

    Raises:
        MissingFileError: no config file.
        UnsupportedHostError: a detection config where mmdet or mmcv's
            compiled ops do not import.
        ConfigError: ``teacher_ckpt`` for a config without a teacher,
            ``data_root`` for one whose datasets take none,
            ``auto_scale_lr`` for one without ``auto_scale_lr``,
            ``show_dir`` for one without a visualization hook, ``tta`` for
            one without ``tta_model`` and ``tta_pipeline``.
        OutputPathError: ``show_dir`` is a file or cannot be created.
    """
    if not osp.isfile(config):
        raise MissingFileError(f'config file {config} does not exist.')
    cfg = _read_config(config)
    cfg.launcher = launcher
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(config))[0])
    if launcher == 'none' and not cfg.get('experiment_name'):
        _name_run(cfg, config)
    if teacher_ckpt is not None:
        if not is_distillation(cfg):
            raise ConfigError(
                f'--teacher-ckpt: {config} has no teacher (no model.teacher '
                'in the config).')
        cfg.model.teacher_ckpt = teacher_ckpt
    if data_root is not None:
        _set_data_root(cfg, data_root, config)
    if teacher_from_scratch:
        cfg.teacher_from_scratch = True
    if launcher != 'none':
        _cpu_backend(cfg)
    if amp:
        enable_amp(cfg)
    if auto_scale_lr:
        enable_auto_scale_lr(cfg, config)
    if no_validate:
        disable_validation(cfg)
    if no_pin_memory:
        set_dataloaders(cfg, pin_memory=False)
    if no_persistent_workers:
        set_dataloaders(cfg, persistent_workers=False)
    if show_dir is not None:
        enable_show_dir(cfg, show_dir, show_interval, config)
    if tta:
        enable_tta(cfg, config)
    return cfg


def _name_run(cfg: Config, config: str) -> None:
    """Name the run after its config and the nanosecond it was loaded.

    mmengine names its logger and visualizer instances after the config
    and the second the run starts; two runs of one config in one process
    within a second would share them (and the first run's, possibly
    removed, work dir). mmdet's default_runtime names its visualizer
    ``'visualizer'``, which would keep it shared across runs whatever the
    experiment name: it gets the run's name too.
    """
    cfg.experiment_name = (f'{osp.splitext(osp.basename(config))[0]}_'
                           f'{time.time_ns()}')
    if isinstance(cfg.get('visualizer'), Mapping) and \
            cfg.visualizer.get('name') is not None:
        cfg.visualizer.name = cfg.experiment_name


def _set_data_root(cfg: Config, data_root: str, config: str) -> None:
    changed = 0
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset = (cfg.get(key) or {}).get('dataset')
        if isinstance(dataset, Mapping) and 'data_root' in dataset:
            dataset['data_root'] = data_root
            changed += 1
    if not changed:
        raise ConfigError(
            f'--data-root: no dataset of {config} takes a data_root (its '
            'data is built in, or set through another key).')


def _cpu_backend(cfg: Config) -> None:
    """Without a GPU, a distributed run uses gloo (NCCL needs GPUs)."""
    import torch
    if torch.cuda.is_available():
        return
    env = cfg.setdefault('env_cfg', {})
    dist_cfg = env.setdefault('dist_cfg', {})
    if dist_cfg.get('backend', 'nccl') == 'nccl':
        dist_cfg['backend'] = 'gloo'
