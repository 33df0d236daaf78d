# Copyright (c) dckd_mm contributors. All rights reserved.
"""Speed of DCKD against mmrazor's DKDLoss, KD and a bare log_softmax at
(N, C) = (64, 100), (256, 1000), (512, 81), and (--steps) of whole
training steps of student alone, KD, DKD, SimKD and SimKD + DCKD for
resnet32x4 -> resnet8x4 at batch 64 on synthetic CIFAR-shaped data.
Runs on CUDA when one is present (CUDA events), else on the CPU. On CUDA
it also checks one SimKD + DCKD step under sync debug mode 'error'.

Targets (benchmarks, not tests): DCKD <= 1.0x DKDLoss everywhere and
<= 2x the floor on a GPU; SimKD + DCKD step <= 1.10x the KD step.

Needs the OpenMMLab stack (mmrazor's losses, the configs' models). On a bare
GPU machine with torch alone, run tools/analysis_tools/device_check.py
instead. With the stack on a GPU, one call of about 2-4 minutes:
    python tools/analysis_tools/loss_speed.py --steps --json speed.json
"""
import argparse
import json
import os.path as osp
import sys

import torch

import dckd_mm  # noqa: F401
from dckd_mm.benchmark.loss_speed import (format_speed_table,
                                          format_step_table, sync_check,
                                          time_losses, time_steps)

HERE = osp.dirname(osp.abspath(__file__))

ROOT = osp.dirname(osp.dirname(HERE))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument('--repeats', type=int)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--device', help='default: cuda if present')
    parser.add_argument('--steps', action='store_true',
                        help='also time whole training steps')
    parser.add_argument('--step-iters', type=int)
    parser.add_argument('--json', help='also write the figures here')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    cuda = device.startswith('cuda')
    repeats = args.repeats or (50 if cuda else 200)
    where = (torch.cuda.get_device_name() if cuda else
             f'CPU, {args.threads} threads')
    print(f'{where}, torch {torch.__version__}', flush=True)
    rows = time_losses(repeats=repeats, device=device)
    print(f'\nloss forward + backward, median of {repeats} interleaved '
          'repeats:')
    print(format_speed_table(rows), flush=True)
    out = dict(device=where, losses=rows)
    if args.steps:
        iters = args.step_iters or (50 if cuda else 5)
        steps = time_steps(ROOT, device, iters=iters,
                           warmup=10 if cuda else 1)
        print(f'\ntraining step, resnet32x4 -> resnet8x4, batch 64, median '
              f'of {iters}:')
        print(format_step_table(steps))
        out['steps'] = steps
        out['sync_check'] = sync_check(ROOT, device)
        print(f"\nSimKD + DCKD forward + backward under sync debug mode "
              f"'error': {out['sync_check']}")
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(out, f, indent=2)
    return 0


if __name__ == '__main__':
    sys.exit(main())
