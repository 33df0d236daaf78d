# Copyright (c) dckd_mm contributors. All rights reserved.
"""Side-by-side comparison of distillation methods under identical
conditions: one teacher, then each method's student with the same seeds,
schedule and data; top-1 and wall time per run, mean +- std over seeds and
the training throughput of each method against the set's baseline.

Each run's mmengine output (config dump, per-iteration log, warnings) goes
to ``<run dir>/console.log``; the terminal gets one progress line per run.
"""
import os
import os.path as osp
import statistics
from typing import Dict, List, Mapping, Optional, Sequence, TextIO

import torch

from ..errors import ConfigError
from .progress import Progress
from .runs import train_method, train_teacher

__all__ = ['run_comparison', 'summarize']


def summarize(methods: Sequence[Mapping], runs: Mapping[str, List[dict]],
              baseline: str) -> List[dict]:
    """One summary row per method from its runs (one per seed).

    Args:
        methods (Sequence[Mapping]): the set's methods (``id``, ``name``,
            ``config``, ``options``).
        runs (Mapping[str, list]): method id -> results of
            :func:`~.runs.train_method`, one per seed.
        baseline (str): the method id ``step_vs_baseline`` divides by.

    Returns:
        list: rows with ``top1_mean``, ``top1_std`` (sample standard
        deviation; ``None`` for one seed, which has none), ``top1_all``,
        ``seeds``, mean ``wall_s``, median ``step_s`` and
        ``images_per_s``, the first seed's ``peak_mem_mb`` and
        ``dckd_share`` and ``step_vs_baseline``.
    """
    rows = []
    for m in methods:
        rs = runs[m['id']]
        accs = [r['top1'] for r in rs]
        prof = [r for r in rs if r['dckd_share'] is not None]
        rows.append(dict(
            method=m['name'], id=m['id'], config=m['config'],
            options=dict(m.get('options') or {}),
            top1_mean=statistics.mean(accs),
            top1_std=statistics.stdev(accs) if len(accs) > 1 else None,
            top1_all=accs, seeds=len(accs),
            wall_s=statistics.mean(r['wall_s'] for r in rs),
            step_s=statistics.median(r['step_s'] for r in rs),
            images_per_s=statistics.median(r['images_per_s'] for r in rs),
            peak_mem_mb=rs[0]['peak_mem_mb'],
            dckd_share=prof[0]['dckd_share'] if prof else None))
    base = {r['id']: r for r in rows}.get(baseline)
    if base is None:
        raise ConfigError(f'baseline {baseline!r} is not one of the method '
                          f'ids {[r["id"] for r in rows]}.')
    for row in rows:
        row['step_vs_baseline'] = row['step_s'] / base['step_s']
    return rows


def run_comparison(spec: Mapping, work_dir: str,
                   seeds: Sequence[int] = (0, ),
                   options: Optional[dict] = None,
                   stream: Optional[TextIO] = None) -> dict:
    """Teacher once (seed ``seeds[0]``), then every method for every seed.

    Args:
        spec (Mapping): a set of :func:`~.sets.load_config_sets`
            (``teacher``, ``baseline``, ``methods``, ``claims``).
        work_dir (str): the teacher goes to ``work_dir/teacher``, each run
            to ``work_dir/<method id>/seed<seed>``.
        seeds (Sequence[int]): the students' seeds; the first one is also
            the teacher's. Same seeds for every method.
        options (dict, optional): cfg-options of every run (teacher
            included), under each method's own options.
        stream (TextIO, optional): where the progress lines go (default:
            stdout).

    Returns:
        dict: ``teacher`` (config, top-1, checkpoint), ``baseline``,
        ``methods`` (:func:`summarize`), ``runs`` (method id -> per-seed
        results), ``claims`` (the set's), ``seeds``, ``device`` and
        ``torch_threads``.

    Raises:
        ConfigError: no seed, or a seed given twice.
    """
    seeds = list(seeds)
    if not seeds or len(set(seeds)) != len(seeds):
        raise ConfigError(f'seeds must be distinct and at least one: '
                          f'{seeds}.')
    methods = list(spec['methods'])
    os.makedirs(work_dir, exist_ok=True)
    progress = Progress(1 + len(methods) * len(seeds), stream)
    t_ckpt, t_top1 = train_teacher(spec['teacher'],
                                   osp.join(work_dir, 'teacher'), seeds[0],
                                   options, progress=progress)
    runs: Dict[str, List[dict]] = {}
    for seed in seeds:
        for m in methods:
            progress.begin(f'{m["name"]} (seed {seed})')
            res = train_method(
                m['config'], osp.join(work_dir, m['id'], f'seed{seed}'),
                t_ckpt, seed, dict(options or {}, **m.get('options', {})),
                progress=progress, profile=seed == seeds[0])
            runs.setdefault(m['id'], []).append(
                dict(res, seed=seed, config=m['config']))
    return dict(teacher=dict(config=spec['teacher'], top1=t_top1,
                             checkpoint=t_ckpt),
                baseline=spec['baseline'],
                methods=summarize(methods, runs, spec['baseline']),
                runs=runs, claims=list(spec.get('claims') or []),
                seeds=seeds,
                device='cuda' if torch.cuda.is_available() else 'cpu',
                torch_threads=torch.get_num_threads())
