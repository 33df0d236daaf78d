# Copyright (c) dckd_mm contributors. All rights reserved.
"""Convert a torchvision ResNet state dict (``resnet34-*.pth`` etc.) to an
mmpretrain ImageClassifier checkpoint ({'state_dict', 'meta'}), strictly:
nothing is written unless every key and shape fits."""
import argparse
import sys

import dckd_mm  # noqa: F401
from dckd_mm.compat import (CorruptCheckpointError, UntrustedCheckpointError,
                            safe_load)
from dckd_mm.models.builder import build_model
from dckd_mm.utils import atomic_save
from dckd_mm.utils.checkpoint import extract_state_dict
from dckd_mm.utils.convert import (ConversionError, check_exact,
                                   convert_torchvision_resnet,
                                   torchvision_resnet_cfg)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('src', help='torchvision ResNet state dict')
    parser.add_argument('dst', help='output mmpretrain checkpoint')
    parser.add_argument('--depth', type=int, required=True,
                        choices=[18, 34, 50, 101, 152])
    parser.add_argument('--num-classes', type=int, default=1000)
    args = parser.parse_args()
    try:
        state = convert_torchvision_resnet(
            extract_state_dict(safe_load(args.src)))
        model = build_model(
            torchvision_resnet_cfg(args.depth, args.num_classes))
        check_exact(state, model.state_dict(), f'mmpretrain ResNet-'
                    f'{args.depth}')
        model.load_state_dict(state, strict=True)
    except (ConversionError, ValueError, FileNotFoundError,
            UntrustedCheckpointError, CorruptCheckpointError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    atomic_save({'state_dict': state,
                 'meta': dict(source=args.src, depth=args.depth,
                              converter='dckd_mm')}, args.dst)
    print(f'wrote {args.dst}: {len(state)} tensors, ResNet-{args.depth}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
