# Copyright (c) dckd_mm contributors. All rights reserved.
"""The main job on the embedded data (`make demo`).

Trains a resnet20 teacher on scikit-learn's digits, then the resnet8
student five ways with the same schedule and seeds: alone, KD, DKD, SimKD
and SimKD + DCKD (default rule 'as_good_as_teacher'). Prints one progress
line per run, then the tables: top-1 mean +- std over the seeds, the
throughput, and the verdict on the paper's target (SimKD + DCKD >= SimKD)
from the mean difference and its standard error; a single seed has no
standard error and gets no verdict. Writes work_dirs/demo/results.*; each
run's mmengine log stays in its folder under work_dirs/demo/.
"""
import argparse
import os
import os.path as osp
import sys
import time
from typing import Optional, Sequence

import torch

from dckd_mm.apis import report_error
from dckd_mm.benchmark import (format_table, load_config_sets, run_comparison,
                               save_results)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SETS = osp.join(ROOT, 'configs', 'demo', 'config_sets.yml')
# Students per method: enough for a standard error, within the demo's
# 10 minutes on 2 cores (docs/benchmarks.md#the-demo-make-demo).
SEEDS = 5


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the demo; returns the exit status (2 on a user error)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument(
        '--seeds', type=int, default=SEEDS,
        help=f'seeds 0..N-1 for every student (default {SEEDS}); with 1, '
        'no verdict is given')
    parser.add_argument('--epochs', type=int, help='override the schedule')
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error('--seeds must be at least 1')
    if args.epochs is not None and args.epochs < 1:
        parser.error('--epochs must be at least 1')
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    options = {'train_cfg.max_epochs': args.epochs} if args.epochs else None
    seeds = list(range(args.seeds))
    start = time.perf_counter()
    try:
        spec = load_config_sets(SETS)['digits']
        result = run_comparison(spec, args.work_dir, seeds, options)
        result['total_s'] = time.perf_counter() - start
        result['command'] = ' '.join(['python'] + sys.argv)
        paths = save_results(
            result, args.work_dir,
            'digits (sklearn), resnet20 -> resnet8, '
            f'{len(seeds)} seed(s), {torch.get_num_threads()} CPU threads')
    except Exception as err:
        return report_error(err)
    print('\n' + format_table(result))
    if len(seeds) == 1:
        print('\nOne seed: no standard error, so no verdict. Differences '
              'of a few tenths at one seed change sign between machines; '
              'run with --seeds 3 or more.')
    print(f'\ntotal {result["total_s"]:.0f} s; wrote ' + ', '.join(paths))
    return 0


if __name__ == '__main__':
    sys.exit(main())
