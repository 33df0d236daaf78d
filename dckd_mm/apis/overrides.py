# Copyright (c) dckd_mm contributors. All rights reserved.
"""The config changes of the tools' switches (``--no-validate``,
``--no-pin-memory``, ``--no-persistent-workers``, ``--show-dir``,
``--tta``, ``--auto-scale-lr``, ``--amp``), each a function that changes a
loaded config in place; :func:`~dckd_mm.apis.config.load_config` applies
them."""
import os.path as osp
from typing import Any, Mapping

from mmengine.config import Config

from ..errors import ConfigError, OutputPathError

__all__ = [
    'disable_validation', 'set_dataloaders', 'enable_show_dir',
    'enable_tta', 'enable_auto_scale_lr', 'enable_amp'
]

_LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


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
