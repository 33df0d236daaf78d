# Copyright (c) dckd_mm contributors. All rights reserved.
"""Convert a RepDistiller / CRD / mdistiller / SimKD CIFAR checkpoint to an
mmpretrain checkpoint ({'state_dict', 'meta'}) for dckd_mm's CIFAR zoo.

The conversion is exact or refused, and nothing is written when refused:
the result must load into the zoo model with no missing or unexpected key
and no shape mismatch, and its logits must equal the upstream computation
rebuilt from the source tensors on a random batch (for a SimKD student:
student feature feat[-2] -> projector -> teacher classifier). With
--config-out, the complete mmpretrain config (model, upstream input
normalisation, CIFAR-100 test pipeline) is written too, all or nothing with
the checkpoint. Every output name is checked (not a folder, a writable
folder, a .py/.json/.yaml config) before anything is converted. What
converts: docs/simkd_students.md.
"""
import argparse

import dckd_mm  # noqa: F401
from dckd_mm.apis import report_error, tool_exit
from dckd_mm.converters import check_outputs, convert_file, save_deployable
from dckd_mm.models.zoo import CIFAR_ZOO


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
        '--config-out',
        help='also write the complete mmpretrain config (model, input '
        'normalisation, test pipeline) here')
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    try:
        # every output is checked before anything is read or written
        check_outputs(args.dst, args.config_out)
        result = convert_file(args.src, args.arch, args.num_classes,
                              args.part, args.teacher, args.teacher_arch)
        save_deployable(result, args.dst, args.config_out, args.num_classes)
    except Exception as err:
        return report_error(err)
    print(f'wrote {args.dst}: {len(result.state_dict)} tensors, '
          f'{args.arch}; logits equal the upstream computation (max abs '
          f'difference {result.meta["self_check_max_abs_diff"]:.2g})')
    return 0


if __name__ == '__main__':
    tool_exit(main())
