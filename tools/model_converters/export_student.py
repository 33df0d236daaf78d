# Copyright (c) dckd_mm contributors. All rights reserved.
"""Export the student of a distillation checkpoint as a standalone
mmpretrain config + checkpoint (SimKD students keep their projector and
the copy of the teacher classifier). The pair is verified before it is
kept (the model built from the written config loads the written weights
strictly); a checkpoint that does not fit the config is refused and
nothing is written."""
import argparse

import dckd_mm  # noqa: F401
from dckd_mm.apis import report_error, tool_exit
from dckd_mm.converters import export_student


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('config', help='distillation config')
    parser.add_argument('checkpoint', help='distillation checkpoint')
    parser.add_argument('out_config', help='student config to write')
    parser.add_argument('out_checkpoint', help='student checkpoint to write')
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    try:
        export_student(args.config, args.checkpoint, args.out_config,
                       args.out_checkpoint)
    except Exception as err:
        return report_error(err)
    print(f'wrote {args.out_config} and {args.out_checkpoint}')
    return 0


if __name__ == '__main__':
    tool_exit(main())
