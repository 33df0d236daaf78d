# Copyright (c) dckd_mm contributors. All rights reserved.
"""What ``tools/train.py`` and ``tools/test.py`` do, as functions."""
import os.path as osp
from typing import Optional

from mmengine.config import Config
from mmengine.runner import Runner

from ..compat.safe_loading import (CorruptCheckpointError,
                                   UntrustedCheckpointError)
from ..datasets.cifar import DatasetError

__all__ = [
    'load_config', 'preflight', 'run_train', 'run_test', 'USER_ERRORS'
]

# Errors caused by the user's input: the tools print them without a
# traceback and exit with status 2.
USER_ERRORS = (DatasetError, FileNotFoundError, UntrustedCheckpointError,
               CorruptCheckpointError)


def load_config(config: str,
                work_dir: Optional[str] = None,
                cfg_options: Optional[dict] = None,
                launcher: str = 'none',
                amp: bool = False) -> Config:
    """Read a config and apply the command-line overrides."""
    if not osp.isfile(config):
        raise FileNotFoundError(f'config file {config} does not exist.')
    cfg = Config.fromfile(config)
    cfg.launcher = launcher
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(config))[0])
    if amp:
        enable_amp(cfg)
    return cfg


def enable_amp(cfg: Config) -> None:
    """Mixed precision: fp16 with dynamic loss scaling on GPU, bf16 on CPU
    (no loss scaling needed)."""
    import torch
    optim = cfg.optim_wrapper
    if optim.get('type', 'OptimWrapper') == 'AmpOptimWrapper':
        return
    if torch.cuda.is_available():
        optim.type = 'AmpOptimWrapper'
        optim.loss_scale = 'dynamic'
    else:
        optim.type = 'CPUBF16OptimWrapper'


def preflight(cfg: Config, splits: tuple = ('train_dataloader',
                                            'val_dataloader')) -> None:
    """Fail fast, before the Runner is built, on a missing teacher
    checkpoint or a missing CIFAR-100 folder."""
    from ..datasets.cifar import SafeCIFAR100
    model = cfg.get('model', {})
    ckpt = model.get('teacher_ckpt') if isinstance(model, dict) else None
    if ckpt and not osp.isfile(osp.expanduser(ckpt)):
        raise FileNotFoundError(
            f'teacher checkpoint {ckpt!r} (config key model.teacher_ckpt) '
            'does not exist. Train the teacher with its config under '
            'configs/teachers/, or convert a RepDistiller/SimKD file with '
            'tools/convert_repdistiller_ckpt.py, then pass --cfg-options '
            'model.teacher_ckpt=PATH.')
    for key in splits:
        dataset = (cfg.get(key) or {}).get('dataset', {})
        if dataset.get('type') == 'SafeCIFAR100':
            SafeCIFAR100.check_files(
                dataset.get('data_root', 'data/cifar100'),
                dataset.get('split', 'train'))
        elif dataset.get('type') == 'ImageNet':
            check_imagenet(dataset)
        elif str(dataset.get('type', '')).split('.')[-1] == 'CocoDataset':
            check_coco(dataset)


def check_coco(dataset: dict) -> None:
    """:class:`DatasetError` naming COCO's layout if the annotation file or
    the image folder of a ``CocoDataset`` is missing."""
    root = dataset.get('data_root', '')
    ann = osp.join(root, dataset.get('ann_file', ''))
    prefix = dataset.get('data_prefix', {})
    img = osp.join(root, prefix.get('img', '') if isinstance(
        prefix, dict) else prefix)
    missing = [p for p in (ann, img) if not osp.exists(p)]
    if missing:
        raise DatasetError(
            f'COCO data not found: {missing} missing. Expected '
            f'{root}annotations/instances_{{train,val}}2017.json and '
            f'{root}{{train,val}}2017/*.jpg from cocodataset.org (or set '
            'data_root). dckd_mm never downloads data itself.')


def check_imagenet(dataset: dict) -> None:
    """:class:`DatasetError` naming the expected layout if ImageNet's
    split folder (or its annotation file, when one is set) is missing."""
    root = dataset.get('data_root', '')
    split = dataset.get('split', '')
    prefix = dataset.get('data_prefix') or split
    if isinstance(prefix, dict):
        prefix = prefix.get('img_path', '')
    paths = [osp.join(root, prefix)]
    if dataset.get('ann_file'):
        paths.append(osp.join(root, dataset['ann_file']))
    missing = [p for p in paths if not osp.exists(p)]
    if missing:
        raise DatasetError(
            f'ImageNet {split or "data"} not found: {missing} missing. '
            f'Expected {root}/train/<class>/*.JPEG and '
            f'{root}/val/<class>/*.JPEG (or {root}/{{train,val}}/*.JPEG '
            f'with {root}/meta/{{train,val}}.txt lines "path label"), from '
            'image-net.org. dckd_mm never downloads data itself.')


def run_train(cfg: Config, resume: Optional[str] = None) -> Runner:
    """Train ``cfg``. ``resume``: ``'auto'`` (latest checkpoint of the work
    dir) or a checkpoint path."""
    if resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif resume is not None:
        cfg.resume = True
        cfg.load_from = resume
    preflight(cfg)
    runner = Runner.from_cfg(cfg)
    try:
        runner.train()
    finally:
        _close_process_group()
    return runner


def run_test(cfg: Config, checkpoint: str) -> dict:
    """Evaluate ``checkpoint`` with ``cfg``'s test loop."""
    if not osp.isfile(osp.expanduser(checkpoint)):
        raise FileNotFoundError(f'checkpoint {checkpoint} does not exist.')
    preflight(cfg, ('test_dataloader', ))
    cfg.load_from = checkpoint
    runner = Runner.from_cfg(cfg)
    try:
        return runner.test()
    finally:
        _close_process_group()


def _close_process_group() -> None:
    """Destroy the process group before the interpreter exits: mmengine
    never does, and gloo's threads still running during interpreter
    teardown abort the process ("terminate called without an active
    exception") now and then, after training has finished."""
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
