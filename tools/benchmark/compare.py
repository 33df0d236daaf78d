# Copyright (c) dckd_mm contributors. All rights reserved.
"""Side-by-side comparison of distillation methods, N seeds.

CONFIG_SET is a named set (digits, digits-ablation, cifar100) of
dckd_mm.apis.compare.CONFIG_SETS. Prints mean +- std top-1 per method and
a throughput table (train step time, images/s, ratio to KD) measured in the
same run; writes results.{json,md,png} to --work-dir.
"""
import argparse
import os
import sys
import time

import torch
from mmengine.config import DictAction

import dckd_mm  # noqa: F401
from dckd_mm.apis import USER_ERRORS
from dckd_mm.apis.compare import (CONFIG_SETS, format_table, run_comparison,
                                  save_results)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('config_set', choices=sorted(CONFIG_SETS))
    parser.add_argument('--seeds', type=int, default=5)
    parser.add_argument('--work-dir')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='overrides applied to every run (teacher included)')
    parser.add_argument('--threads', type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    work_dir = args.work_dir or f'work_dirs/compare_{args.config_set}'
    teacher, methods = CONFIG_SETS[args.config_set]
    start = time.perf_counter()
    try:
        result = run_comparison(teacher, methods, work_dir,
                                tuple(range(args.seeds)), args.cfg_options)
    except USER_ERRORS as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    result['total_s'] = time.perf_counter() - start
    title = (f'{args.config_set}: {args.seeds} seed(s), '
             f'{result["device"]}, {args.threads} threads')
    paths = save_results(result, work_dir, title)
    print('\n' + format_table(result))
    print(f'\ntotal {result["total_s"]:.0f} s; wrote ' + ', '.join(paths))
    return 0


if __name__ == '__main__':
    os.environ.setdefault('OMP_NUM_THREADS', '2')
    sys.exit(main())
