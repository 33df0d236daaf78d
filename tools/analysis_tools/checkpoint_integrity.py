# Copyright (c) dckd_mm contributors. All rights reserved.
"""Cost of verifying a checkpoint's zip CRC-32 on load.

Writes a zip checkpoint of about --size-mb MB (float32 tensors of a few
MB each, as a ResNet's), then times, interleaved, --runs times each:

* ``torch.load(weights_only=True)``: what loading costs without the check;
* ``verify_checkpoint``: the check alone (every record's CRC-32 through
  ``zipfile.ZipFile.testzip``);
* ``safe_load``: what every dckd_mm load path calls (the check, then
  ``torch.load`` with the allow-list).

The file is read from the page cache in all three (it was just written,
and each run reads it whole), so this measures the CPU cost of the
second pass, not the disk. Prints the medians and the overhead of
``safe_load`` over ``torch.load``:

    python tools/analysis_tools/checkpoint_integrity.py --size-mb 100
"""
import argparse
import os
import os.path as osp
import statistics
import tempfile
import time
from typing import Callable, Dict, List

import torch

import dckd_mm  # noqa: F401  (installs the host fixes)
from dckd_mm.compat import safe_load
from dckd_mm.compat.integrity import verify_checkpoint


def write_checkpoint(path: str, size_mb: float) -> int:
    """A zip checkpoint of about ``size_mb`` MB of float32 tensors (4 MB
    each, the last one smaller) plus an mmengine-like ``meta``.

    Returns:
        int: the file's size in bytes.
    """
    total = int(size_mb * 2**20) // 4  # float32 elements
    chunk = 2**20  # 4 MB tensors
    gen = torch.Generator().manual_seed(0)
    state = {}
    i = 0
    while total > 0:
        n = min(chunk, total)
        state[f'layer{i}.weight'] = torch.randn(n, generator=gen)
        total -= n
        i += 1
    torch.save({'state_dict': state, 'meta': {'epoch': 1, 'iter': 10}},
               path)
    return os.path.getsize(path)


def time_loads(path: str, runs: int) -> Dict[str, List[float]]:
    """Seconds per call of each loader, ``runs`` interleaved rounds after
    one warm-up round."""
    loaders: Dict[str, Callable[[], object]] = {
        'torch.load': lambda: torch.load(
            path, map_location='cpu', weights_only=True),
        'verify_checkpoint': lambda: verify_checkpoint(path),
        'safe_load': lambda: safe_load(path, map_location='cpu'),
    }
    times: Dict[str, List[float]] = {name: [] for name in loaders}
    for round_ in range(runs + 1):
        for name, load in loaders.items():
            start = time.perf_counter()
            load()
            if round_:  # round 0 warms the page cache and the imports
                times[name].append(time.perf_counter() - start)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument('--size-mb', type=float, default=100.0)
    parser.add_argument('--runs', type=int, default=9)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--dir', help='where to write the checkpoint '
                        '(default: a temporary folder, removed after)')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = osp.join(tmp, 'checkpoint.pth')
        size = write_checkpoint(path, args.size_mb)
        times = time_loads(path, args.runs)
    mb = size / 2**20
    print(f'{mb:.1f} MB zip checkpoint, torch {torch.__version__}, '
          f'{args.threads} thread(s), median of {args.runs} interleaved '
          'runs (file in the page cache):')
    medians = {name: statistics.median(t) for name, t in times.items()}
    for name, t in times.items():
        print(f'  {name:<18} {medians[name] * 1e3:8.1f} ms   '
              f'(min {min(t) * 1e3:.1f}, max {max(t) * 1e3:.1f}; '
              f'{mb / medians[name]:.0f} MB/s)')
    base = medians['torch.load']
    print(f'  safe_load / torch.load: {medians["safe_load"] / base:.2f}x '
          f'(+{(medians["safe_load"] - base) * 1e3:.1f} ms)')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
