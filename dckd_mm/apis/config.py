# Copyright (c) dckd_mm contributors. All rights reserved.
"""Loading a config and applying the command-line overrides to it."""
import os.path as osp
import time
from typing import Any, Mapping, Optional

from mmengine.config import Config

from ..errors import (ConfigError, MissingFileError, OutputPathError,
                      UnsupportedHostError)

__all__ = [
    'load_config', 'enable_auto_scale_lr', 'enable_amp', 'is_distillation',
    'is_detection', 'unset', 'tested_model', 'disable_validation',
    'set_dataloaders', 'enable_show_dir', 'enable_tta'
]

_LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')

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


def disable_validation(cfg: Config) -> None:
    """Train without validation (``--no-validate``), as mmpretrain's
    ``tools/train.py`` does: no ``val_cfg``, ``val_dataloader`` or
    ``val_evaluator``, so mmengine builds no validation loop (and a
    ``save_best`` checkpoint hook saves no ``best_*.pth``).

    Args:
        cfg (Config): the config, changed in place.
    """
    cfg.val_cfg = None
    cfg.val_dataloader = None
    cfg.val_evaluator = None


def set_dataloaders(cfg: Config, **options: Any) -> None:
    """Set ``options`` (``pin_memory=False``, ``persistent_workers=False``)
    in each of the config's train, val and test dataloaders that exists
    (``--no-pin-memory``, ``--no-persistent-workers``).

    Args:
        cfg (Config): the config, changed in place.
        **options: dataloader arguments.
    """
    for key in _LOADERS:
        loader = cfg.get(key)
        if isinstance(loader, Mapping):
            loader.update(options)


def enable_show_dir(cfg: Config, show_dir: str, interval: int = 1,
                    config: str = 'the config') -> None:
    """Draw test predictions into ``show_dir`` (``--show-dir``): turn on
    the config's ``default_hooks.visualization`` (mmpretrain's
    ``VisualizationHook``), which writes one ``<sample>_0.png`` per drawn
    test sample into that folder, as mmpretrain's ``tools/test.py`` does.

    Args:
        cfg (Config): the config, changed in place.
        show_dir (str): the folder (created if missing).
        interval (int): draw every ``interval``-th sample (>= 1).
        config (str): the config file, for the messages.

    Raises:
        ConfigError: the config has no ``default_hooks.visualization``, or
            ``interval < 1``.
        OutputPathError: ``show_dir`` is a file, or the nearest existing
            folder above it cannot be written.
    """
    hook = (cfg.get('default_hooks') or {}).get('visualization')
    if not isinstance(hook, Mapping):
        raise ConfigError(
            f'--show-dir: {config} has no default_hooks.visualization to '
            "draw with; add visualization=dict(type='VisualizationHook') "
            'to its default_hooks (mmpretrain\'s default runtime has it).')
    if interval < 1:
        raise ConfigError(f'--interval {interval}: draw every N-th sample '
                          'with N >= 1.')
    _check_folder(show_dir, '--show-dir')
    hook.enable = True
    hook.out_dir = show_dir
    hook.interval = interval


def _check_folder(path: str, what: str) -> None:
    """Refuse a folder to write into that is a file or cannot be created
    (the nearest existing folder above it is not writable)."""
    import os
    full = osp.abspath(osp.expanduser(path))
    if osp.exists(full) and not osp.isdir(full):
        raise OutputPathError(f'{what} {path} is a file; name a folder.')
    parent = full
    while not osp.exists(parent):
        parent = osp.dirname(parent)
    if not osp.isdir(parent) or not os.access(parent, os.W_OK | os.X_OK):
        raise OutputPathError(
            f'{what} {path}: {parent} is not a writable folder; choose '
            'another folder.')


def enable_tta(cfg: Config, config: str = 'the config') -> None:
    """Test with test-time augmentation (``--tta``), as mmpretrain's
    ``tools/test.py`` does when the config defines it: the model becomes
    ``tta_model`` wrapping the config's model (its ``module``), and the
    test pipeline becomes ``tta_pipeline``.

    Unlike mmpretrain, a config without ``tta_model`` and
    ``tta_pipeline`` is refused rather than given a flip TTA that it never
    asked for (a flip is wrong for some data, say digits).

    Args:
        cfg (Config): the config, changed in place.
        config (str): the config file, for the message.

    Raises:
        ConfigError: ``tta_model`` or ``tta_pipeline`` is missing.
    """
    missing = [k for k in ('tta_model', 'tta_pipeline') if not cfg.get(k)]
    if missing:
        raise ConfigError(
            f'--tta: {config} defines no {" and no ".join(missing)}. Add '
            "both, e.g. tta_model = dict(type='mmpretrain."
            "AverageClsScoreTTA') and tta_pipeline = [dict(type="
            "'TestTimeAug', transforms=[[...], [dict(type='PackInputs')]])] "
            '(the test pipeline with a TestTimeAug step), or drop --tta.')
    test = cfg.get('test_dataloader')
    if not isinstance(test, Mapping) or not isinstance(
            test.get('dataset'), Mapping):
        raise ConfigError(f'--tta: {config} has no test_dataloader.dataset '
                          'whose pipeline tta_pipeline would replace.')
    from mmengine.config import ConfigDict
    cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
    test.dataset.pipeline = cfg.tta_pipeline


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


def enable_auto_scale_lr(cfg: Config, config: str = 'the config') -> None:
    """Turn on mmengine's automatic LR scaling (``--auto-scale-lr``).

    mmengine's Runner then multiplies the learning rate by the real total
    batch size (GPUs x ``train_dataloader.batch_size``) over
    ``auto_scale_lr.base_batch_size``, the batch size the config's
    learning rate was set for.

    Args:
        cfg (Config): the config, changed in place.
        config (str): its file, for the message.

    Raises:
        ConfigError: the config sets no ``auto_scale_lr.base_batch_size``.
    """
    scale = cfg.get('auto_scale_lr')
    if not isinstance(scale, Mapping) or 'base_batch_size' not in scale:
        raise ConfigError(
            f'--auto-scale-lr: {config} sets no auto_scale_lr = '
            'dict(base_batch_size=N), the total batch size its learning '
            'rate was tuned for, so there is nothing to scale from. Add it '
            'to the config (or pass --cfg-options '
            'auto_scale_lr.base_batch_size=N), or drop --auto-scale-lr.')
    scale['enable'] = True


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


def enable_amp(cfg: Config) -> None:
    """Mixed precision: fp16 with dynamic loss scaling on GPU, bf16 on CPU
    (no loss scaling needed).

    Args:
        cfg (Config): the config, changed in place.

    Raises:
        ConfigError: a detection config (``default_scope='mmdet'``) on
            CPU: mmcv's ``nms`` and ``RoIAlign`` have no bfloat16 CPU
            kernels. On GPU, detection uses mmdet's own AMP path (mmdet
            casts the RoIs to the features' dtype for mmcv's fp16 kernels).
    """
    import torch
    optim = cfg.optim_wrapper
    if not torch.cuda.is_available() and cfg.get('default_scope') == 'mmdet':
        raise ConfigError(
            '--amp without a GPU would train the detector in bfloat16 on '
            'the CPU, and mmcv\'s nms and RoIAlign have no bfloat16 CPU '
            'kernels (they fail with "expected scalar type Float but found '
            'BFloat16"). Drop --amp on CPU; on a GPU, --amp trains in fp16 '
            'with dynamic loss scaling.')
    if optim.get('type', 'OptimWrapper') == 'AmpOptimWrapper':
        return
    if torch.cuda.is_available():
        optim.type = 'AmpOptimWrapper'
        optim.loss_scale = 'dynamic'
    else:
        optim.type = 'CPUBF16OptimWrapper'
