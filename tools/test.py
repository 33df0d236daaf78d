# Copyright (c) dckd_mm contributors. All rights reserved.
"""Evaluate a checkpoint with a config's test loop (the checkpoint must fit
the config's model exactly)."""
import argparse

import dckd_mm  # noqa: F401  (compat + registration, before any build)
from dckd_mm.apis import (add_common_args, load_config, report_error, run_test,
                          tool_exit)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--out',
        help='also dump the predictions (one entry per test sample) to '
        'this .pkl file')
    add_common_args(parser)
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    try:
        cfg = load_config(
            args.config,
            args.work_dir,
            args.cfg_options,
            args.launcher,
            teacher_ckpt=args.teacher_ckpt,
            data_root=args.data_root)
        metrics = run_test(cfg, args.checkpoint, out=args.out)
    except Exception as err:
        return report_error(err)
    print(metrics)
    return 0


if __name__ == '__main__':
    tool_exit(main())
