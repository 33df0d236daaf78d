# Copyright (c) dckd_mm contributors. All rights reserved.
"""Side-by-side comparison of distillation methods under identical
conditions: one teacher, then each method's student with the same seed(s),
schedule and data; top-1 and wall time per run, mean +- std over seeds,
and the training throughput of each method."""
import json
import os
import os.path as osp
import shutil
import statistics
import time
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.config import Config
from mmengine.runner import Runner

from ..utils.checkpoint import atomic_save, extract_state_dict

__all__ = [
    'CONFIG_SETS', 'train_teacher', 'train_method', 'run_comparison',
    'format_table', 'save_results'
]

Method = Tuple[str, str, dict]  # (name, config, cfg-options)
_DCKD = 'model.distiller.distill_losses.loss_dckd.'
_DIGITS_DCKD = 'configs/digits/simkd_dckd_resnet20_resnet8_digits.py'

# name: (teacher config, [(method, config, cfg-options), ...])
CONFIG_SETS: Dict[str, Tuple[str, List[Method]]] = {
    'digits': ('configs/digits/teacher_resnet20_digits.py', [
        ('student alone', 'configs/digits/student_resnet8_digits.py', {}),
        ('KD', 'configs/digits/kd_resnet20_resnet8_digits.py', {}),
        ('DKD', 'configs/digits/dkd_resnet20_resnet8_digits.py', {}),
        ('SimKD', 'configs/digits/simkd_resnet20_resnet8_digits.py', {}),
        ('SimKD + DCKD', _DIGITS_DCKD, {}),
    ]),
    # DCKD ablation on the digits pair: mask rule, parts, weight, warm-up.
    'digits-ablation': ('configs/digits/teacher_resnet20_digits.py', [
        ('SimKD', 'configs/digits/simkd_resnet20_resnet8_digits.py', {}),
        ('DCKD default', _DIGITS_DCKD, {}),
        ("mask='none' (DKD)", _DIGITS_DCKD, {_DCKD + 'mask': 'none'}),
        ("mask='student_correct'", _DIGITS_DCKD,
         {_DCKD + 'mask': 'student_correct'}),
        ("parts='skd'", _DIGITS_DCKD, {_DCKD + 'parts': 'skd'}),
        ("parts='pkd'", _DIGITS_DCKD, {_DCKD + 'parts': 'pkd'}),
        ('loss_weight 0.25', _DIGITS_DCKD, {_DCKD + 'loss_weight': 0.25}),
        ('warm-up 10 epochs', _DIGITS_DCKD, {_DCKD + 'warmup_epochs': 10}),
    ]),
    'cifar100': ('configs/teachers/resnet32x4_cifar100.py', [
        ('student alone', 'configs/teachers/resnet8x4_cifar100.py', {}),
        ('KD', 'configs/kd/kd_res32x4_res8x4_1xb64_cifar100.py', {}),
        ('DKD', 'configs/dkd/dkd_res32x4_res8x4_1xb64_cifar100.py', {}),
        ('SimKD', 'configs/simkd/simkd_res32x4_res8x4_1xb64_cifar100.py', {}),
        ('SimKD + DCKD', 'configs/dckd/res32x4_res8x4_cifar100.py', {}),
    ]),
}


def _config(path: str, work_dir: str, seed: int,
            options: Optional[dict]) -> Config:
    cfg = Config.fromfile(path)
    if options:
        cfg.merge_from_dict(options)
    cfg.work_dir = work_dir
    cfg.randomness = dict(seed=seed, deterministic=True)
    cfg.experiment_name = osp.basename(work_dir.rstrip('/')) + \
        f'_{time.time_ns()}'
    return cfg


def _top1(runner: Runner) -> float:
    return float(runner.message_hub.get_scalar('val/accuracy/top1').current())


def train_teacher(config: str, work_dir: str, seed: int = 0,
                  options: Optional[dict] = None,
                  reuse: bool = True) -> Tuple[str, float]:
    """Train (or reuse) the teacher; returns ``(checkpoint, top-1)``.

    The checkpoint is reused when it was made from the same config text,
    seed and overrides (a stamp file records them).
    """
    ckpt = osp.join(work_dir, 'teacher.pth')
    stamp_path = osp.join(work_dir, 'teacher.json')
    with open(config) as f:
        stamp = dict(config=config, text=f.read(), seed=seed,
                     options=options or {})
    if reuse and osp.isfile(ckpt) and osp.isfile(stamp_path):
        with open(stamp_path) as f:
            old = json.load(f)
        if {k: old.get(k) for k in stamp} == stamp:
            print(f'[dckd_mm] reusing teacher {ckpt} '
                  f'(top-1 {old["top1"]:.2f})', flush=True)
            return ckpt, float(old['top1'])
    cfg = _config(config, osp.join(work_dir, 'run'), seed, options)
    runner = Runner.from_cfg(cfg)
    runner.train()
    top1 = _top1(runner)
    state = extract_state_dict({'state_dict': runner.model.state_dict()})
    atomic_save({'state_dict': state, 'meta': dict(top1=top1,
                                                   config=config)}, ckpt)
    with open(stamp_path, 'w') as f:
        json.dump(dict(stamp, top1=top1), f)
    shutil.rmtree(osp.join(work_dir, 'run'), ignore_errors=True)
    return ckpt, top1


def profile_step(runner: Runner) -> dict:
    """One extra training step of a trained runner, profiled: peak tensor
    memory of the step (CUDA: ``max_memory_allocated``; CPU: the high-water
    mark of the profiler's allocation events) and the share of the step
    spent in ``DCKDLoss`` (forward, labelled ``dckd_loss``, plus the
    backward of its autograd function)."""
    from torch.profiler import ProfilerActivity, profile
    batch = next(iter(runner.train_dataloader))
    model, optim = runner.model, runner.optim_wrapper
    model.train()
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=acts, profile_memory=True) as prof:
        start = time.perf_counter()
        model.train_step(batch, optim_wrapper=optim)
        if cuda:
            torch.cuda.synchronize()
        step = time.perf_counter() - start
    if cuda:
        peak = torch.cuda.max_memory_allocated()
    else:
        # self (not inclusive) allocations, else nested ops count twice
        events = sorted((e.time_range.start, e.self_cpu_memory_usage)
                        for e in prof.events() if e.self_cpu_memory_usage)
        level = peak = 0
        for _, delta in events:
            level += delta
            peak = max(peak, level)
    dckd_us = sum(
        e.cpu_time_total for e in prof.key_averages()
        if e.key == 'dckd_loss' or e.key.endswith('_DCKDPartsBackward'))
    return dict(peak_mem_mb=peak / 2**20,
                dckd_share=dckd_us / 1e6 / step if dckd_us else None)


def train_method(config: str, work_dir: str, teacher_ckpt: str, seed: int,
                 options: Optional[dict] = None) -> dict:
    """Train one method's student; returns top-1, wall time and the mean
    training step time measured by mmengine's timer."""
    cfg = _config(config, work_dir, seed, options)
    if 'teacher_ckpt' in cfg.model:
        cfg.model.teacher_ckpt = teacher_ckpt
    runner = Runner.from_cfg(cfg)
    start = time.perf_counter()
    runner.train()
    wall = time.perf_counter() - start
    step = runner.message_hub.get_scalar('train/time')
    batch = cfg.train_dataloader.batch_size
    step_time = float(step.mean(len(step.data[0])))
    return dict(top1=_top1(runner), wall_s=wall, step_s=step_time,
                images_per_s=batch / step_time, **profile_step(runner))


def run_comparison(teacher_config: str, methods: Sequence[Method],
                   work_dir: str, seeds: Sequence[int] = (0, ),
                   options: Optional[dict] = None) -> dict:
    """Teacher once (seed ``seeds[0]``), then every method for every seed."""
    os.makedirs(work_dir, exist_ok=True)
    t_ckpt, t_top1 = train_teacher(teacher_config,
                                   osp.join(work_dir, 'teacher'), seeds[0],
                                   options)
    runs: Dict[str, List[dict]] = {}
    for seed in seeds:
        for name, config, extra in methods:
            slug = ''.join(c if c.isalnum() else '_' for c in name.lower())
            print(f'[dckd_mm] training "{name}" (seed {seed}) ...',
                  flush=True)
            res = train_method(config, osp.join(work_dir, slug,
                                                f'seed{seed}'), t_ckpt,
                               seed, dict(options or {}, **extra))
            runs.setdefault(name, []).append(dict(res, seed=seed,
                                                  config=config))
    summary = []
    kd_step = None
    for name, config, extra in methods:
        rs = runs[name]
        accs = [r['top1'] for r in rs]
        steps = [r['step_s'] for r in rs]
        row = dict(
            method=name,
            config=config,
            options=extra,
            top1_mean=statistics.mean(accs),
            top1_std=statistics.stdev(accs) if len(accs) > 1 else 0.0,
            seeds=len(accs),
            wall_s=statistics.mean(r['wall_s'] for r in rs),
            step_s=statistics.median(steps),
            images_per_s=statistics.median(r['images_per_s'] for r in rs),
            peak_mem_mb=max(r['peak_mem_mb'] for r in rs),
            dckd_share=(statistics.median(r['dckd_share'] for r in rs)
                        if rs[0]['dckd_share'] is not None else None))
        if name == 'KD':
            kd_step = row['step_s']
        summary.append(row)
    for row in summary:
        row['step_vs_kd'] = row['step_s'] / kd_step if kd_step else None
    return dict(teacher=dict(config=teacher_config, top1=t_top1,
                             checkpoint=t_ckpt),
                methods=summary, runs=runs,
                device='cuda' if torch.cuda.is_available() else 'cpu',
                torch_threads=torch.get_num_threads())


def format_table(result: dict) -> str:
    """Markdown tables: accuracy and wall time; throughput."""
    lines = [
        f"Teacher: {result['teacher']['config']} "
        f"(top-1 {result['teacher']['top1']:.2f})", '',
        '| method | top-1 (%) | seeds | time per run (s) |',
        '| --- | --- | --- | --- |'
    ]
    for r in result['methods']:
        acc = f"{r['top1_mean']:.2f}"
        if r['seeds'] > 1:
            acc += f" +- {r['top1_std']:.2f}"
        lines.append(f"| {r['method']} | {acc} | {r['seeds']} | "
                     f"{r['wall_s']:.1f} |")
    lines += [
        '', '| method | train step (s) | images/s | step vs. KD | '
        'peak step memory (MiB) | DCKD loss share of step |',
        '| --- | --- | --- | --- | --- | --- |'
    ]
    for r in result['methods']:
        ratio = f"{r['step_vs_kd']:.2f}x" if r['step_vs_kd'] else '-'
        share = f"{100 * r['dckd_share']:.1f}%" if r.get(
            'dckd_share') is not None else '-'
        lines.append(f"| {r['method']} | {r['step_s']:.4f} | "
                     f"{r['images_per_s']:.0f} | {ratio} | "
                     f"{r['peak_mem_mb']:.1f} | {share} |")
    return '\n'.join(lines)


def save_results(result: dict, out_dir: str, title: str) -> List[str]:
    """Write ``results.json``, ``results.md`` and ``results.png``."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    os.makedirs(out_dir, exist_ok=True)
    paths = [osp.join(out_dir, f'results.{ext}')
             for ext in ('json', 'md', 'png')]
    with open(paths[0], 'w') as f:
        json.dump(result, f, indent=2)
    with open(paths[1], 'w') as f:
        f.write(f'# {title}\n\n{format_table(result)}\n')
    names = [r['method'] for r in result['methods']]
    means = [r['top1_mean'] for r in result['methods']]
    stds = [r['top1_std'] for r in result['methods']]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    bars = ax.bar(names, means, yerr=stds, capsize=4,
                  color=['#999999', '#6baed6', '#3182bd', '#fd8d3c',
                         '#e6550d'][:len(names)])
    ax.axhline(result['teacher']['top1'], color='k', ls='--', lw=1,
               label=f"teacher {result['teacher']['top1']:.1f}")
    for bar, m in zip(bars, means):
        ax.text(bar.get_x() + bar.get_width() / 2, m, f'{m:.1f}',
                ha='center', va='bottom', fontsize=8)
    lo = max(0.0, min(means) - 10)
    ax.set_ylim(lo, 100)
    ax.set_ylabel('top-1 (%)')
    ax.set_title(title, fontsize=9)
    ax.legend(loc='lower right', fontsize=8)
    fig.tight_layout()
    fig.savefig(paths[2], dpi=110)
    plt.close(fig)
    return paths
