# Copyright (c) dckd_mm contributors. All rights reserved.
"""The main job on the embedded data (`make demo`).

Trains a resnet20 teacher on scikit-learn's digits, then the resnet8
student five ways with the same schedule and seed: alone, KD, DKD, SimKD
and SimKD + DCKD (default rule 'as_good_as_teacher'); prints one progress
line per run, then the tables, and writes work_dirs/demo/results.*. Each
run's mmengine log stays in its folder under work_dirs/demo/.
"""
import argparse
import os
import os.path as osp
import sys
import time

import torch

import dckd_mm  # noqa: F401

# the experiment code of the analysis tools (tools/analysis_tools/lib)
ANALYSIS_TOOLS = osp.join(osp.dirname(osp.abspath(__file__)),
                          'analysis_tools')
if ANALYSIS_TOOLS not in sys.path:
    sys.path.insert(0, ANALYSIS_TOOLS)
from lib.compare import (format_table, load_config_sets,  # noqa: E402
                         run_comparison, save_results)

SETS = osp.join(ANALYSIS_TOOLS, 'config_sets.yml')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--epochs', type=int, help='override the schedule')
    args = parser.parse_args()
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    options = None
    if args.epochs:
        options = {'train_cfg.max_epochs': args.epochs}
    spec = load_config_sets(SETS)['digits']
    start = time.perf_counter()
    result = run_comparison(spec['teacher'], spec['methods'], args.work_dir,
                            (args.seed, ), options)
    result['total_s'] = time.perf_counter() - start
    paths = save_results(
        result, args.work_dir,
        'digits (sklearn), resnet20 -> resnet8, seed '
        f'{args.seed}, {torch.get_num_threads()} CPU threads')
    print('\n' + format_table(result))
    print(f'\ntotal {result["total_s"]:.0f} s; wrote ' + ', '.join(paths))
    return 0


if __name__ == '__main__':
    sys.exit(main())
