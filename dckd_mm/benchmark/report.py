# Copyright (c) dckd_mm contributors. All rights reserved.
"""A comparison result as Markdown tables, JSON and a bar chart."""
import json
import os
import os.path as osp
from typing import List, Mapping

from .claims import claims_table

__all__ = ['format_accuracy', 'format_throughput', 'format_table',
           'save_results', 'plot_results']


def _top1(row: Mapping) -> str:
    if row['seeds'] < 2:
        return f"{row['top1_mean']:.2f}"
    return f"{row['top1_mean']:.2f} +- {row['top1_std']:.2f}"


def format_accuracy(result: Mapping) -> str:
    """Markdown table: top-1 mean +- std over seeds, each seed's top-1 and
    the mean wall time of a run (a single seed shows no spread)."""
    lines = [
        f"Teacher: {result['teacher']['config']} "
        f"(top-1 {result['teacher']['top1']:.2f})", '',
        '| method | top-1 (%), mean +- std | seeds | per seed | '
        'time per run (s) |', '| --- | --- | --- | --- | --- |'
    ]
    for r in result['methods']:
        each = ', '.join(f'{a:.2f}' for a in r['top1_all'])
        lines.append(f"| {r['method']} | {_top1(r)} | {r['seeds']} | "
                     f"{each} | {r['wall_s']:.1f} |")
    return '\n'.join(lines)


def format_throughput(result: Mapping) -> str:
    """Markdown table: training step time, images/s, the step against the
    set's baseline, the profiled step's peak memory and DCKD share."""
    rows = result['methods']
    base = next(r['method'] for r in rows if r['id'] == result['baseline'])
    lines = [
        f'| method | train step (s) | images/s | step vs. {base} | '
        'peak step memory (MiB) | DCKD loss share of step |',
        '| --- | --- | --- | --- | --- | --- |'
    ]
    for r in rows:
        share = f"{100 * r['dckd_share']:.1f}%" if r.get(
            'dckd_share') is not None else '-'
        lines.append(f"| {r['method']} | {r['step_s']:.4f} | "
                     f"{r['images_per_s']:.0f} | "
                     f"{r['step_vs_baseline']:.2f}x | "
                     f"{r['peak_mem_mb']:.1f} | {share} |")
    return '\n'.join(lines)


def format_table(result: Mapping) -> str:
    """The accuracy and throughput tables, then the claims table when the
    set tests claims."""
    parts = [format_accuracy(result), format_throughput(result)]
    claims = claims_table(result)
    if claims:
        parts.append(claims)
    return '\n\n'.join(parts)


def plot_results(result: Mapping, path: str, title: str) -> str:
    """Horizontal bars of the mean top-1 with the std over seeds as error
    bars (none for one seed), the teacher as a dashed line."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    rows = result['methods']
    names = [r['method'] for r in rows]
    means = [r['top1_mean'] for r in rows]
    stds = [r['top1_std'] or 0.0 for r in rows]
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
    seeds = max(r['seeds'] for r in rows)
    ax.set_xlabel('top-1 (%), mean +- std over seeds' if seeds > 1 else
                  'top-1 (%), one seed')
    ax.set_title(title, fontsize=9)
    ax.legend(loc='lower left', fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def save_results(result: Mapping, out_dir: str, title: str) -> List[str]:
    """Write ``results.json``, ``results.md`` (the tables under ``title``)
    and ``results.png`` (:func:`plot_results`) to ``out_dir``.

    Returns:
        list: the three paths.
    """
    os.makedirs(out_dir, exist_ok=True)
    paths = [osp.join(out_dir, f'results.{ext}')
             for ext in ('json', 'md', 'png')]
    with open(paths[0], 'w') as f:
        json.dump(result, f, indent=2)
    with open(paths[1], 'w') as f:
        f.write(f'# {title}\n\n{format_table(result)}\n')
    plot_results(result, paths[2], title)
    return paths
