# Copyright (c) dckd_mm contributors. All rights reserved.
"""Export the student of a distillation checkpoint as a standalone
mmpretrain config + checkpoint (SimKD students keep their projector and
the copy of the teacher classifier)."""
import argparse
import sys

import dckd_mm  # noqa: F401
from dckd_mm.apis import USER_ERRORS
from dckd_mm.utils.export import export_student


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
    except USER_ERRORS + (ValueError, ) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    print(f'wrote {args.out_config} and {args.out_checkpoint}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
