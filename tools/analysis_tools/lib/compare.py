# Copyright (c) dckd_mm contributors. All rights reserved.
"""Side-by-side comparison of distillation methods under identical
conditions: one teacher, then each method's student with the same seed(s),
schedule and data; top-1 and wall time per run, mean +- std over seeds,
the training throughput of each method and, for the sets that hold the
paper's ablation rows, each claim of the paper marked as holding or not.

The named sets are data: ``tools/analysis_tools/config_sets.yml``
(:func:`load_config_sets`). Each run's mmengine output (config dump,
per-iteration log, warnings) goes to ``<run dir>/console.log``; the
terminal gets one progress line per run and the tables.
"""
import contextlib
import json
import logging
import math
import os
import os.path as osp
import shutil
import statistics
import sys
import time
from typing import Dict, Iterator, List, Optional, Sequence, TextIO, Tuple

import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

from dckd_mm.utils.checkpoint import atomic_save, extract_state_dict

__all__ = [
    'load_config_sets', 'train_teacher', 'train_method', 'run_comparison',
    'format_table', 'claims_table', 'save_results', 'Progress'
]

Method = Tuple[str, str, dict]  # (name, config, cfg-options)


def load_config_sets(path: str) -> Dict[str, dict]:
    """Read the named comparison sets from a YAML file.

    Each set: ``teacher`` (config path), ``methods`` (list of ``name``,
    ``config``, optional ``options`` (cfg-options dict) and optional ``id``
    (the key :func:`claims_table` looks rows up by)), optional ``title``.

    Raises:
        ValueError: a set misses a field or names a config that does not
            exist (paths are relative to the working directory).
    """
    import yaml
    with open(path) as f:
        sets = yaml.safe_load(f)
    if not isinstance(sets, dict) or not sets:
        raise ValueError(f'{path}: expected a mapping of named sets.')
    for name, spec in sets.items():
        if not isinstance(spec, dict) or 'teacher' not in spec or \
                not spec.get('methods'):
            raise ValueError(f'{path}: set {name!r} needs a teacher config '
                             'and a non-empty methods list.')
        for m in spec['methods']:
            if not isinstance(m, dict) or not m.get('name') or \
                    not m.get('config'):
                raise ValueError(f'{path}: set {name!r} has a method '
                                 f'without name or config: {m!r}.')
            m.setdefault('options', {})
        for cfg in [spec['teacher']] + [m['config'] for m in spec['methods']]:
            if not osp.isfile(cfg):
                raise ValueError(f'{path}: set {name!r} names {cfg}, which '
                                 'does not exist (run from the repository '
                                 'root).')
    return sets


class Progress:
    """One line per run on the terminal: ``[i/n] method seed epoch ETA``.

    On a terminal the line is redrawn after each epoch; elsewhere (logs,
    CI) one line is printed when a run ends.
    """

    def __init__(self, total: int, stream: Optional[TextIO] = None) -> None:
        self.total, self.done = total, 0
        self.stream = stream or sys.stdout
        self.tty = bool(getattr(self.stream, 'isatty', lambda: False)())
        self.start = time.perf_counter()
        self.label, self.run_start = '', self.start

    def _eta(self, frac: float) -> str:
        """Time left: the mean time per run so far (the current run
        extrapolated from ``frac``, its finished fraction) times the runs
        left."""
        now = time.perf_counter()
        runs = self.done + frac
        if runs <= 0:
            return '?'
        left = (now - self.start) / runs * (self.total - runs)
        return f'{int(left // 60)}m{int(left % 60):02d}s'

    def begin(self, label: str) -> None:
        self.label, self.run_start = label, time.perf_counter()

    def epoch(self, epoch: int, max_epochs: int) -> None:
        if self.tty:
            self.stream.write(
                f'\r[{self.done + 1}/{self.total}] {self.label}  epoch '
                f'{epoch}/{max_epochs}  ETA {self._eta(epoch / max_epochs)}'
                '\x1b[K')
            self.stream.flush()

    def end(self, summary: str) -> None:
        self.done += 1
        took = time.perf_counter() - self.run_start
        self.run_start = time.perf_counter()
        head, tail = ('\r', '\x1b[K') if self.tty else ('', '')
        eta = self._eta(0.0) if self.done < self.total else '0m00s'
        self.stream.write(f'{head}[{self.done}/{self.total}] {self.label}  '
                          f'{summary}  {took:.0f} s  ETA {eta}{tail}\n')
        self.stream.flush()


class _EpochHook(Hook):
    priority = 'LOWEST'

    def __init__(self, progress: Progress) -> None:
        self.progress = progress

    def after_train_epoch(self, runner) -> None:
        self.progress.epoch(runner.epoch, runner.max_epochs)


@contextlib.contextmanager
def _run_output(work_dir: str) -> Iterator[None]:
    """Send everything a run prints (mmengine's config dump and log
    lines, warnings) to ``work_dir/console.log`` instead of the terminal.
    mmengine's logger keeps the stream it was created with, so its handler
    is detached from the file after the run."""
    os.makedirs(work_dir, exist_ok=True)
    path = osp.join(work_dir, 'console.log')
    with open(path, 'a') as log:
        try:
            with contextlib.redirect_stdout(log), \
                    contextlib.redirect_stderr(log):
                yield
        except BaseException:
            print(f'[dckd_mm] run failed; its output is in {path}',
                  file=sys.stderr)
            raise
        finally:
            for logger in [logging.getLogger()] + [
                    lg for lg in logging.Logger.manager.loggerDict.values()
                    if isinstance(lg, logging.Logger)]:
                for h in list(logger.handlers):
                    if getattr(h, 'stream', None) is log:
                        logger.removeHandler(h)


def _runner(path: str, work_dir: str, seed: int, options: Optional[dict],
            progress: Optional[Progress],
            teacher_ckpt: Optional[str] = None) -> Runner:
    """The run's Runner: the config with the overrides, seed and work dir,
    the teacher checkpoint of a distillation config, the progress hook."""
    cfg = Config.fromfile(path)
    if options:
        cfg.merge_from_dict(options)
    cfg.work_dir = work_dir
    cfg.randomness = dict(seed=seed, deterministic=True)
    cfg.experiment_name = osp.basename(work_dir.rstrip('/')) + \
        f'_{time.time_ns()}'
    if teacher_ckpt is not None and 'teacher_ckpt' in cfg.model:
        cfg.model.teacher_ckpt = teacher_ckpt
    runner = Runner.from_cfg(cfg)
    if progress is not None:
        runner.register_hook(_EpochHook(progress))
    return runner


def _top1(runner: Runner) -> float:
    return float(runner.message_hub.get_scalar('val/accuracy/top1').current())


def train_teacher(config: str, work_dir: str, seed: int = 0,
                  options: Optional[dict] = None, reuse: bool = True,
                  progress: Optional[Progress] = None) -> Tuple[str, float]:
    """Train (or reuse) the teacher; returns ``(checkpoint, top-1)``.

    The checkpoint is reused when it was made from the same config text,
    seed and overrides (a stamp file records them).
    """
    ckpt = osp.join(work_dir, 'teacher.pth')
    stamp_path = osp.join(work_dir, 'teacher.json')
    with open(config) as f:
        stamp = dict(config=config, text=f.read(), seed=seed,
                     options=options or {})
    if progress is not None:
        progress.begin(f'teacher ({osp.basename(config)})')
    if reuse and osp.isfile(ckpt) and osp.isfile(stamp_path):
        with open(stamp_path) as f:
            old = json.load(f)
        if {k: old.get(k) for k in stamp} == stamp:
            if progress is not None:
                progress.end(f'reused {ckpt}, top-1 {old["top1"]:.2f}')
            return ckpt, float(old['top1'])
    run_dir = osp.join(work_dir, 'run')
    with _run_output(run_dir):
        runner = _runner(config, run_dir, seed, options, progress)
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


@contextlib.contextmanager
def _native_output_to(stream: TextIO) -> Iterator[None]:
    """Point file descriptors 1 and 2 at ``stream``'s file while the block
    runs: the profiler's C++ side prints there, past ``sys.stdout``."""
    try:
        target = stream.fileno()
    except (AttributeError, OSError, ValueError):
        yield  # not a real file (e.g. captured output): leave fds alone
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        os.dup2(target, 1)
        os.dup2(target, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)


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
                 options: Optional[dict] = None,
                 progress: Optional[Progress] = None,
                 profile: bool = True) -> dict:
    """Train one method's student; returns top-1, wall time, the mean
    training step time measured by mmengine's timer and (``profile``) the
    profiled step's peak memory and DCKD share."""
    with _run_output(work_dir):
        runner = _runner(config, work_dir, seed, options, progress,
                         teacher_ckpt)
        start = time.perf_counter()
        runner.train()
        wall = time.perf_counter() - start
        step = runner.message_hub.get_scalar('train/time')
        batch = runner.cfg.train_dataloader.batch_size
        step_time = float(step.mean(len(step.data[0])))
        if profile:
            with _native_output_to(sys.stdout):
                extra = profile_step(runner)
        else:
            extra = dict(peak_mem_mb=float('nan'), dckd_share=None)
    res = dict(top1=_top1(runner), wall_s=wall, step_s=step_time,
               images_per_s=batch / step_time, **extra)
    if progress is not None:
        progress.end(f'top-1 {res["top1"]:.2f}')
    return res


def run_comparison(teacher_config: str, methods: Sequence[Method],
                   work_dir: str, seeds: Sequence[int] = (0, ),
                   options: Optional[dict] = None,
                   stream: Optional[TextIO] = None) -> dict:
    """Teacher once (seed ``seeds[0]``), then every method for every seed.

    ``methods`` holds ``(name, config, options)`` triples or the method
    dicts of :func:`load_config_sets` (``id`` kept for the claims).
    Progress goes to ``stream`` (default: stdout), one line per run.
    """
    methods = [m if isinstance(m, dict) else dict(
        name=m[0], config=m[1], options=m[2]) for m in methods]
    os.makedirs(work_dir, exist_ok=True)
    progress = Progress(1 + len(methods) * len(seeds), stream)
    t_ckpt, t_top1 = train_teacher(teacher_config,
                                   osp.join(work_dir, 'teacher'), seeds[0],
                                   options, progress=progress)
    runs: Dict[str, List[dict]] = {}
    for seed in seeds:
        for m in methods:
            name = m['name']
            slug = ''.join(c if c.isalnum() else '_' for c in name.lower())
            progress.begin(f'{name} (seed {seed})')
            res = train_method(
                m['config'], osp.join(work_dir, slug, f'seed{seed}'),
                t_ckpt, seed, dict(options or {}, **m.get('options', {})),
                progress=progress, profile=seed == seeds[0])
            runs.setdefault(name, []).append(
                dict(res, seed=seed, config=m['config']))
    summary = []
    kd_step = None
    for m in methods:
        rs = runs[m['name']]
        accs = [r['top1'] for r in rs]
        prof = [r for r in rs if r['dckd_share'] is not None]
        row = dict(
            method=m['name'],
            id=m.get('id'),
            config=m['config'],
            options=m.get('options', {}),
            top1_mean=statistics.mean(accs),
            top1_std=statistics.stdev(accs) if len(accs) > 1 else 0.0,
            top1_all=accs,
            seeds=len(accs),
            wall_s=statistics.mean(r['wall_s'] for r in rs),
            step_s=statistics.median(r['step_s'] for r in rs),
            images_per_s=statistics.median(r['images_per_s'] for r in rs),
            peak_mem_mb=rs[0]['peak_mem_mb'],
            dckd_share=prof[0]['dckd_share'] if prof else None)
        if m['name'] == 'KD':
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


# The paper's claims (DCKD, PLOS ONE 2025, CIFAR-100 ablations) as
# comparisons of method ids: (claim, paper's evidence, better, worse).
# "better" beats every id in "worse" when the claim holds.
CLAIMS: List[Tuple[str, str, str, Tuple[str, ...]]] = [
    ('plain KD on top of the feature loss hurts',
     '-1.91 (resnet32x4 -> resnet8x4)', 'simkd', ('simkd_kd', )),
    ('PKD alone on top of the feature loss hurts', 'mixed / lower',
     'simkd', ('simkd_pkd', )),
    ('SKD and PKD together beat either one alone', 'both > each',
     'simkd_dckd', ('simkd_skd', 'simkd_pkd')),
    ('weight 0.5 beats 1 and 0.25', '0.5 best', 'simkd_dckd',
     ('beta_1', 'beta_0.25')),
    ('target: SimKD + DCKD >= SimKD', '+ over SimKD', 'simkd_dckd',
     ('simkd', )),
    ('target: SimKD + DCKD >= SimKD + KD', '+1.91 or more', 'simkd_dckd',
     ('simkd_kd', )),
]


def _diff(a: dict, b: dict) -> Tuple[float, float]:
    """Mean difference ``a - b`` and its standard error over seeds."""
    se = math.sqrt(a['top1_std']**2 / a['seeds'] +
                   b['top1_std']**2 / b['seeds'])
    return a['top1_mean'] - b['top1_mean'], se


def claims_table(result: dict) -> Optional[str]:
    """Markdown table of :data:`CLAIMS` on a result holding the rows' ids,
    or ``None`` if the set lacks them. A claim "holds here" when the mean
    of ``better`` is at least every mean in ``worse``; "(within noise)"
    marks a difference smaller than twice its standard error."""
    rows = {r.get('id'): r for r in result['methods'] if r.get('id')}
    lines = ['| claim | paper | here: difference (+- s.e.) | verdict |',
             '| --- | --- | --- | --- |']
    found = False
    for claim, paper, better, worse in CLAIMS:
        if better not in rows or any(w not in rows for w in worse):
            continue
        found = True
        diffs = [(w, *_diff(rows[better], rows[w])) for w in worse]
        holds = all(d >= 0 for _, d, _ in diffs)
        noise = any(abs(d) < 2 * se for _, d, se in diffs)
        here = '; '.join(
            f'{rows[better]["method"]} - {rows[w]["method"]} = '
            f'{d:+.2f} (+- {se:.2f})' for w, d, se in diffs)
        verdict = 'holds here' if holds else 'does not hold here'
        if noise:
            verdict += ' (within noise)'
        lines.append(f'| {claim} | {paper} | {here} | {verdict} |')
    return '\n'.join(lines) if found else None


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
    claims = claims_table(result)
    with open(paths[1], 'w') as f:
        f.write(f'# {title}\n\n{format_table(result)}\n')
        if claims:
            f.write(f'\n{claims}\n')
    names = [r['method'] for r in result['methods']]
    means = [r['top1_mean'] for r in result['methods']]
    stds = [r['top1_std'] for r in result['methods']]
    n = len(names)
    fig, ax = plt.subplots(figsize=(7.5, 1.2 + 0.38 * n))
    ys = list(range(n))[::-1]
    colors = ['#e6550d' if 'DCKD' in name else '#fd8d3c' if 'SimKD' in name
              else '#999999' if 'alone' in name else '#3182bd'
              for name in names]
    ax.barh(ys, means, xerr=stds, capsize=3, color=colors)
    ax.axvline(result['teacher']['top1'], color='k', ls='--', lw=1,
               label=f"teacher {result['teacher']['top1']:.1f}")
    for y, m, sd in zip(ys, means, stds):
        ax.text(m + sd, y, f' {m:.2f}', va='center', ha='left', fontsize=8)
    ax.set_yticks(ys)
    ax.set_yticklabels(names, fontsize=8)
    lo = max(0.0, min(means) - 10)
    ax.set_xlim(lo, 100 + (100 - lo) * 0.08)
    ax.set_xlabel('top-1 (%), mean +- std over seeds')
    ax.set_title(title, fontsize=9)
    ax.legend(loc='lower left', fontsize=8)
    fig.tight_layout()
    fig.savefig(paths[2], dpi=110)
    plt.close(fig)
    return paths
