# Copyright (c) dckd_mm contributors. All rights reserved.
"""Train a model or a distillation from a config (mmengine Runner)."""
import argparse

import dckd_mm  # noqa: F401  (compat + registration, before any build)
from dckd_mm.apis import (add_common_args, exit_on_sigterm, load_config,
                          report_error, run_train, tool_exit)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('config', help='config file')
    parser.add_argument(
        '--resume',
        nargs='?',
        const='auto',
        default=None,
        help='resume from CHECKPOINT, or from the latest complete checkpoint '
        'of the work dir when no path is given (an error if there is none)')
    parser.add_argument(
        '--start-over',
        action='store_true',
        help='with --resume: start from epoch 0 when the work dir holds no '
        'checkpoint to resume from')
    parser.add_argument(
        '--resume-with-changes',
        action='store_true',
        help='with --resume: accept a config that differs from the '
        'checkpoint\'s in settings that change training (refused '
        'otherwise); the changes are logged, recorded in the work dir\'s '
        'resume_changes.jsonl and applied, the optimizer settings and the '
        'learning-rate schedule included')
    parser.add_argument(
        '--teacher-from-scratch',
        action='store_true',
        help='allow a distillation config without a teacher checkpoint '
        '(the teacher starts random)')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='mixed precision (fp16 on GPU, bf16 on CPU)')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the learning rate by the real total batch size over '
        'the config\'s auto_scale_lr.base_batch_size (an error if the '
        'config sets none)')
    parser.add_argument(
        '--no-validate',
        action='store_true',
        help='train without validation (no val loop, no best_*.pth)')
    parser.add_argument(
        '--no-persistent-workers',
        action='store_true',
        help='persistent_workers=False in every dataloader')
    add_common_args(parser)
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    exit_on_sigterm()
    try:
        cfg = load_config(
            args.config,
            args.work_dir,
            args.cfg_options,
            args.launcher,
            args.amp,
            teacher_ckpt=args.teacher_ckpt,
            data_root=args.data_root,
            teacher_from_scratch=args.teacher_from_scratch,
            auto_scale_lr=args.auto_scale_lr,
            no_validate=args.no_validate,
            no_pin_memory=args.no_pin_memory,
            no_persistent_workers=args.no_persistent_workers)
        run_train(cfg, args.resume, start_over=args.start_over,
                  resume_with_changes=args.resume_with_changes)
    except Exception as err:
        return report_error(err)
    return 0


if __name__ == '__main__':
    tool_exit(main())
