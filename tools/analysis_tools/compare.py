# Copyright (c) dckd_mm contributors. All rights reserved.
"""Side-by-side comparison of distillation methods, N seeds.

CONFIG_SET names a set of configs/demo/config_sets.yml (digits,
digits100, digits-claims, digits100-claims, cifar100). Prints one progress
line per run, then mean +- std top-1 per method, a throughput table (train
step time, images/s, ratio to the set's baseline) measured in the same run
and the paper's claims the set tests, each with its verdict from the mean
difference and its standard error (none from a single seed); writes
results.{json,md,png} to --work-dir. Each run's own log is in its folder
(console.log and mmengine's timestamped log).
"""
import argparse
import os
import os.path as osp
import sys
import time

import torch
from mmengine.config import DictAction

from dckd_mm.apis import report_error
from dckd_mm.benchmark import (format_table, load_config_sets, run_comparison,
                               save_results)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SETS = osp.join(ROOT, 'configs', 'demo', 'config_sets.yml')


def main() -> int:
    """Run the comparison; returns the exit status (2 on a user error)."""
    try:
        sets = load_config_sets(SETS)
    except Exception as err:
        return report_error(err)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('config_set', choices=sorted(sets))
    parser.add_argument('--seeds', type=int, default=5)
    parser.add_argument('--work-dir')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='overrides applied to every run (teacher included)')
    parser.add_argument('--threads', type=int, default=2)
    args = parser.parse_args()
    if args.seeds < 1:
        parser.error('--seeds must be at least 1')
    torch.set_num_threads(args.threads)
    work_dir = args.work_dir or f'work_dirs/compare_{args.config_set}'
    spec = sets[args.config_set]
    start = time.perf_counter()
    try:
        result = run_comparison(spec, work_dir, range(args.seeds),
                                args.cfg_options)
        result['total_s'] = time.perf_counter() - start
        result['command'] = ' '.join(['python'] + sys.argv)
        title = (f'{spec.get("title") or args.config_set}: {args.seeds} '
                 f'seed(s), {result["device"]}, {args.threads} threads')
        paths = save_results(result, work_dir, title)
    except Exception as err:
        return report_error(err)
    print('\n' + format_table(result))
    print(f'\ntotal {result["total_s"]:.0f} s; wrote ' + ', '.join(paths))
    return 0


if __name__ == '__main__':
    os.environ.setdefault('OMP_NUM_THREADS', '2')
    sys.exit(main())
