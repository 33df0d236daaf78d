# Copyright (c) dckd_mm contributors. All rights reserved.
"""Time forward+backward of DCKD, mmrazor's DKDLoss, KD and a bare
log_softmax at (N, C) = (64, 100), (256, 1000), (512, 81): medians of
interleaved repeats, with ratios. Targets: DCKD <= 1.0x DKDLoss and <= 3x
the floor."""
import argparse
import json

import torch

import dckd_mm  # noqa: F401
from dckd_mm.apis.loss_speed import format_speed_table, time_losses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--repeats', type=int, default=200)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--json', help='also write the figures here')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = time_losses(repeats=args.repeats, device=args.device)
    print(f'device {args.device}, {args.threads} threads, torch '
          f'{torch.__version__}, median of {args.repeats} interleaved '
          'repeats')
    print(format_speed_table(rows))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(rows, f, indent=2)


if __name__ == '__main__':
    main()
