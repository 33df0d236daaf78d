# Copyright (c) dckd_mm contributors. All rights reserved.
"""One benchmark run: a teacher or a method's student, trained quietly.

Each run's config is loaded and checked exactly as ``tools/train.py``
does it (:func:`dckd_mm.apis.load_config`, then the teacher, loss-weight
and data preflights), so a benchmark refuses what training refuses: a
distillation config without a teacher, a missing teacher file or dataset,
a negative loss weight.
"""
import json
import os.path as osp
import shutil
import sys
import time
from typing import Any, Optional, Tuple

from mmengine.config import Config
from mmengine.runner import Runner

from ..apis import check_loss_options, check_teacher, load_config, preflight
from ..utils.atomic import atomic_save
from ..utils.checkpoint import extract_state_dict
from .output import native_output_to, run_output
from .profiling import profile_step
from .progress import EpochProgressHook, Progress

__all__ = ['run_config', 'build_runner', 'train_teacher', 'train_method']


def run_config(config: str, work_dir: str, seed: int,
               options: Optional[dict] = None,
               teacher_ckpt: Optional[str] = None) -> Config:
    """The checked config of one run.

    Args:
        config (str): config file.
        work_dir (str): the run's folder.
        seed (int): seed of the run (deterministic mode on).
        options (dict, optional): cfg-options overrides.
        teacher_ckpt (str, optional): the teacher checkpoint; set on a
            distillation config, ignored for any other.

    Raises:
        MissingFileError, FileNotFoundError: no config, teacher file or
            dataset.
        ValueError: what :func:`dckd_mm.apis.load_config` and the
            preflights refuse (a distillation config without a teacher, a
            negative loss weight...).
    """
    cfg = load_config(config, work_dir=work_dir, cfg_options=options)
    model = cfg.get('model')
    if teacher_ckpt is not None and isinstance(model, dict) and (
            'teacher' in model or 'teacher_ckpt' in model):
        cfg.model.teacher_ckpt = teacher_ckpt
    cfg.randomness = dict(seed=seed, deterministic=True)
    check_teacher(cfg)
    check_loss_options(cfg)
    preflight(cfg)
    return cfg


def build_runner(cfg: Config,
                 progress: Optional[Progress] = None) -> Runner:
    """mmengine's Runner of ``cfg`` (from :func:`run_config`), reporting
    each epoch to ``progress``."""
    runner = Runner.from_cfg(cfg)
    if progress is not None:
        runner.register_hook(EpochProgressHook(progress))
    return runner


def _top1(runner: Runner) -> float:
    return float(runner.message_hub.get_scalar('val/accuracy/top1').current())


def train_teacher(config: str, work_dir: str, seed: int = 0,
                  options: Optional[dict] = None, reuse: bool = True,
                  progress: Optional[Progress] = None) -> Tuple[str, float]:
    """Train (or reuse) the teacher.

    The checkpoint ``work_dir/teacher.pth`` is reused when it was made
    from the same config text (bases included), seed and overrides (a
    stamp file, ``teacher.json``, records them).

    Returns:
        tuple: ``(checkpoint path, top-1)``.
    """
    ckpt = osp.join(work_dir, 'teacher.pth')
    stamp_path = osp.join(work_dir, 'teacher.json')
    run_dir = osp.join(work_dir, 'run')
    cfg = run_config(config, run_dir, seed, options)
    stamp = dict(config=config, text=cfg.text, seed=seed,
                 options=json.loads(json.dumps(options or {})))
    if progress is not None:
        progress.begin(f'teacher ({osp.basename(config)})')
    if reuse and osp.isfile(ckpt) and osp.isfile(stamp_path):
        with open(stamp_path) as f:
            old = json.load(f)
        if {k: old.get(k) for k in stamp} == stamp:
            if progress is not None:
                progress.end(f'reused {ckpt}, top-1 {old["top1"]:.2f}')
            return ckpt, float(old['top1'])
    with run_output(run_dir):
        runner = build_runner(cfg, progress)
        runner.train()
    top1 = _top1(runner)
    state = extract_state_dict({'state_dict': runner.model.state_dict()})
    atomic_save({'state_dict': state, 'meta': dict(top1=top1,
                                                   config=config)}, ckpt)
    with open(stamp_path, 'w') as f:
        json.dump(dict(stamp, top1=top1), f)
    if progress is not None:
        progress.end(f'top-1 {top1:.2f}')
    shutil.rmtree(run_dir, ignore_errors=True)
    return ckpt, top1


def train_method(config: str, work_dir: str, teacher_ckpt: str, seed: int,
                 options: Optional[dict] = None,
                 progress: Optional[Progress] = None,
                 profile: bool = True) -> dict:
    """Train one method's student.

    Returns:
        dict: ``top1``, ``wall_s`` (training wall time), ``step_s`` (mean
        training step time from mmengine's timer), ``images_per_s`` and,
        with ``profile``, the profiled step's ``peak_mem_mb`` and
        ``dckd_share`` (:func:`~.profiling.profile_step`; NaN and ``None``
        without).
    """
    cfg = run_config(config, work_dir, seed, options, teacher_ckpt)
    with run_output(work_dir):
        runner = build_runner(cfg, progress)
        start = time.perf_counter()
        runner.train()
        wall = time.perf_counter() - start
        step = runner.message_hub.get_scalar('train/time')
        batch = runner.cfg.train_dataloader.batch_size
        step_time = float(step.mean(len(step.data[0])))
        extra: dict[str, Any]
        if profile:
            with native_output_to(sys.stdout):
                extra = profile_step(runner)
        else:
            extra = dict(peak_mem_mb=float('nan'), dckd_share=None)
    res = dict(top1=_top1(runner), wall_s=wall, step_s=step_time,
               images_per_s=batch / step_time, **extra)
    if progress is not None:
        progress.end(f'top-1 {res["top1"]:.2f}')
    return res
