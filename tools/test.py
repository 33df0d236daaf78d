# Copyright (c) dckd_mm contributors. All rights reserved.
"""Evaluate a checkpoint with a config's test loop (the checkpoint must fit
the config's model exactly)."""
import argparse

import dckd_mm  # noqa: F401  (compat + registration, before any build)
from dckd_mm.apis import (add_common_args, exit_on_sigterm, load_config,
                          report_error, run_test, tool_exit)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--out',
        help='also dump the predictions (one entry per test sample) to '
        'this .pkl file')
    parser.add_argument(
        '--out-item',
        choices=['pred', 'metrics'],
        default=None,
        help='with --out: dump the predictions (pred, the default) or the '
        'metrics dict (metrics)')
    parser.add_argument(
        '--show-dir',
        help='draw the test predictions into this folder (one '
        '<sample>_0.png per drawn sample; the config\'s visualization hook)')
    parser.add_argument(
        '--interval',
        type=int,
        default=1,
        help='with --show-dir: draw every N-th test sample (default 1)')
    parser.add_argument(
        '--tta',
        action='store_true',
        help='test with the config\'s test-time augmentation (its tta_model '
        'and tta_pipeline; an error if it has none)')
    add_common_args(parser)
    args = parser.parse_args()
    if args.out_item is not None and args.out is None:
        parser.error('--out-item needs --out FILE, the file to dump to')
    return args


def main() -> int:
    args = parse_args()
    exit_on_sigterm()
    try:
        cfg = load_config(
            args.config,
            args.work_dir,
            args.cfg_options,
            args.launcher,
            teacher_ckpt=args.teacher_ckpt,
            data_root=args.data_root,
            no_pin_memory=args.no_pin_memory,
            show_dir=args.show_dir,
            show_interval=args.interval,
            tta=args.tta)
        metrics = run_test(cfg, args.checkpoint, out=args.out,
                           out_item=args.out_item or 'pred')
    except Exception as err:
        return report_error(err)
    print(metrics)
    return 0


if __name__ == '__main__':
    tool_exit(main())
