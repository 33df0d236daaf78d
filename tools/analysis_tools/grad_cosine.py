# Copyright (c) dckd_mm contributors. All rights reserved.
"""The DCKD paper's motivation, measured: does the logit loss pull against
the feature loss?

Trains the digits100 teacher (or reuses one), then the resnet8 student
with SimKD + KD and with SimKD + DCKD (same seed, data and schedule), each
with ``GradCosineHook``: every --interval iterations it records the
feature loss and the cosine between the gradients of the feature loss and
of the logit loss on the student's shared parameters. Writes one PNG (two
panels: feature loss, gradient cosine) and a JSON of the records.

Example (the README's figure)::

    python tools/analysis_tools/grad_cosine.py docs/grad_cosine_digits100.png
"""
import argparse
import glob
import json
import os
import os.path as osp
import sys
from typing import Dict, List

import numpy as np
import torch

from dckd_mm.apis import report_error
from dckd_mm.benchmark import Progress, train_method, train_teacher

METHODS = [
    ('SimKD + KD',
     'configs/demo/simkd_kd_resnet20_resnet8_1xb64_digits100.py'),
    ('SimKD + DCKD',
     'configs/demo/dckd_resnet20_resnet8_1xb64_digits100.py'),
]
TEACHER = 'configs/demo/resnet20_1xb64_digits100.py'


def _smooth(x: np.ndarray, k: int) -> np.ndarray:
    if len(x) < k or k <= 1:
        return x
    return np.convolve(x, np.ones(k) / k, mode='valid')


def plot(records: Dict[str, List[dict]], out: str, title: str) -> None:
    """Two panels over training iterations: feature loss, and gradient
    cosine (points per measurement, line a moving average of 5)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    colors = {'SimKD + KD': '#3182bd', 'SimKD + DCKD': '#e6550d'}
    for name, recs in records.items():
        it = np.array([r['iter'] for r in recs])
        feat = np.array([r['feature_loss'] for r in recs])
        cos = np.array([r['cosine'] for r in recs])
        c = colors.get(name)
        axes[0].plot(it, feat, color=c, label=name)
        axes[1].scatter(it, cos, s=6, color=c, alpha=0.35)
        k = 5
        axes[1].plot(it[k - 1:], _smooth(cos, k), color=c,
                     label=f'{name} (mean cos {np.nanmean(cos):+.3f})')
    axes[0].set_yscale('log')
    axes[0].set_xlabel('iteration')
    axes[0].set_ylabel('feature loss (SimKD MSE)')
    axes[0].legend(fontsize=8)
    axes[1].axhline(0, color='k', lw=0.8)
    axes[1].set_xlabel('iteration')
    axes[1].set_ylabel('cos(grad feature loss, grad logit loss)')
    axes[1].legend(fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument('out', help='PNG to write')
    parser.add_argument('--work-dir', default='work_dirs/grad_cosine')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--interval', type=int, default=5)
    parser.add_argument('--epochs', type=int,
                        help='override the students\' schedule')
    parser.add_argument('--threads', type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    progress = Progress(1 + len(METHODS))
    try:
        ckpt, _ = train_teacher(TEACHER, osp.join(args.work_dir, 'teacher'),
                                args.seed, progress=progress)
        records = {}
        for name, config in METHODS:
            opts = {'custom_hooks': [dict(type='GradCosineHook',
                                          interval=args.interval)]}
            if args.epochs:
                opts['train_cfg.max_epochs'] = args.epochs
            run_dir = osp.join(args.work_dir,
                               name.replace(' + ', '_').lower())
            progress.begin(name)
            train_method(config, run_dir, ckpt, args.seed, opts,
                         progress=progress, profile=False)
            logs = sorted(glob.glob(osp.join(run_dir, '*',
                                             'grad_cosine.jsonl')))
            with open(logs[-1]) as f:
                records[name] = [json.loads(line) for line in f]
    except Exception as err:
        return report_error(err)
    with open(osp.splitext(args.out)[0] + '.json', 'w') as f:
        json.dump(records, f)
    plot(records, args.out,
         f'digits100, resnet20 -> resnet8, seed {args.seed}: gradient '
         'agreement of the logit loss with the feature loss')
    for name, recs in records.items():
        cos = np.array([r['cosine'] for r in recs])
        print(f'{name}: mean cosine {np.nanmean(cos):+.3f}, share < 0 '
              f'{np.mean(cos < 0):.2f}, final feature loss '
              f'{recs[-1]["feature_loss"]:.4f}')
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
