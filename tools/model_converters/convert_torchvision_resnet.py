# Copyright (c) dckd_mm contributors. All rights reserved.
"""Convert a torchvision ResNet state dict (``resnet34-*.pth`` etc.) to an
mmpretrain ImageClassifier checkpoint ({'state_dict', 'meta'}), strictly:
nothing is written unless every key and shape fits."""
import argparse

import dckd_mm  # noqa: F401
from dckd_mm.apis import report_error, tool_exit
from dckd_mm.converters import check_outputs, convert_torchvision_file
from dckd_mm.converters.torchvision_resnet import DEPTHS


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('src', help='torchvision ResNet state dict')
    parser.add_argument('dst', help='output mmpretrain checkpoint')
    parser.add_argument('--depth', type=int, required=True,
                        choices=list(DEPTHS))
    parser.add_argument('--num-classes', type=int, default=1000)
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    try:
        check_outputs(args.dst)  # before anything is read or written
        result = convert_torchvision_file(args.src, args.depth,
                                          args.num_classes)
        result.save(args.dst)
    except Exception as err:
        return report_error(err)
    print(f'wrote {args.dst}: {len(result.state_dict)} tensors, '
          f'ResNet-{args.depth}')
    return 0


if __name__ == '__main__':
    tool_exit(main())
