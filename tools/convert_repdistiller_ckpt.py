# Copyright (c) dckd_mm contributors. All rights reserved.
"""Convert a RepDistiller / CRD / mdistiller / SimKD CIFAR checkpoint to an
mmpretrain checkpoint ({'state_dict', 'meta'}) for dckd_mm's CIFAR zoo.

The conversion is strict: the result must load into the zoo model with no
missing or unexpected key and no shape mismatch, or nothing is written.
"""
import argparse
import sys

from mmengine.config import Config

import dckd_mm  # noqa: F401
from dckd_mm.compat import CorruptCheckpointError, UntrustedCheckpointError
from dckd_mm.models.builder import build_model
from dckd_mm.models.zoo import CIFAR_ZOO
from dckd_mm.utils import atomic_save
from dckd_mm.utils.convert import ConversionError, check_exact, convert_file


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('src', help='RepDistiller/CRD/mdistiller/SimKD file')
    parser.add_argument('dst', help='output mmpretrain checkpoint')
    parser.add_argument('--arch', required=True, choices=sorted(CIFAR_ZOO))
    parser.add_argument('--num-classes', type=int, default=100)
    parser.add_argument(
        '--part',
        choices=['student', 'teacher'],
        help="mdistiller distiller checkpoints: which model to take")
    parser.add_argument('--teacher', help='SimKD students: teacher file')
    parser.add_argument(
        '--teacher-arch',
        choices=sorted(CIFAR_ZOO),
        help='SimKD students: teacher arch')
    parser.add_argument(
        '--config-out', help='also write the mmpretrain model config here')
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    try:
        state, cfg, meta = convert_file(args.src, args.arch,
                                        args.num_classes, args.part,
                                        args.teacher, args.teacher_arch)
        model = build_model(cfg)
        check_exact(state, model.state_dict(),
                    f'{args.arch} with {cfg["head"]["type"]}')
        model.load_state_dict(state, strict=True)
    except (ConversionError, FileNotFoundError, UntrustedCheckpointError,
            CorruptCheckpointError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    atomic_save({'state_dict': state, 'meta': meta}, args.dst)
    if args.config_out:
        Config(
            dict(
                model=cfg,
                default_scope='mmpretrain',
                custom_imports=dict(
                    imports=['dckd_mm'],
                    allow_failed_imports=False))).dump(args.config_out)
    print(f'wrote {args.dst}: {len(state)} tensors, {args.arch}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
