# Copyright (c) dckd_mm contributors. All rights reserved.
"""Train a model or a distillation from a config (mmengine Runner)."""
import argparse
import sys

from mmengine.config import DictAction

import dckd_mm  # noqa: F401  (compat + registration, before any build)
from dckd_mm.apis import USER_ERRORS, load_config, run_train


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('config', help='config file')
    parser.add_argument('--work-dir', help='where logs and checkpoints go')
    parser.add_argument(
        '--resume',
        nargs='?',
        const='auto',
        default=None,
        help='resume from CHECKPOINT, or from the latest checkpoint of the '
        'work dir when no path is given')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='mixed precision (fp16 on GPU, bf16 on CPU)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config entries, e.g. model.teacher_ckpt=PATH')
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
                          args.launcher, args.amp)
        run_train(cfg, args.resume)
    except USER_ERRORS as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
