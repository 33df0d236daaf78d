# Copyright (c) dckd_mm contributors. All rights reserved.
"""Evaluate a checkpoint with a config's test loop."""
import argparse
import sys

from mmengine.config import DictAction

import dckd_mm  # noqa: F401  (compat + registration, before any build)
from dckd_mm.apis import USER_ERRORS, load_config, run_test


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where logs go')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config entries')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    try:
        cfg = load_config(args.config, args.work_dir, args.cfg_options,
                          args.launcher)
        metrics = run_test(cfg, args.checkpoint)
    except USER_ERRORS as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    print(metrics)
    return 0


if __name__ == '__main__':
    sys.exit(main())
