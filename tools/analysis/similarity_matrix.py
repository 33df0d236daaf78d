# Copyright (c) dckd_mm contributors. All rights reserved.
"""Plot the sample similarity matrix (cosine, samples ordered by class),
for one or several checkpoints side by side.

Example (DCKD vs. SimKD, as the paper compares them)::

    python tools/analysis/similarity_matrix.py out.png \
        --model SimKD configs/digits/simkd_resnet20_resnet8_digits.py a.pth \
        --model DCKD configs/digits/simkd_dckd_resnet20_resnet8_digits.py b.pth
"""
import argparse
import sys

from mmengine.config import DictAction

import dckd_mm  # noqa: F401
from dckd_mm.apis import USER_ERRORS
from dckd_mm.apis.analysis import extract_features, plot_similarity


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('out', help='PNG to write')
    parser.add_argument(
        '--model', nargs=3, action='append', required=True,
        metavar=('TITLE', 'CONFIG', 'CHECKPOINT'))
    parser.add_argument('--split', default='test', choices=['test', 'val'])
    parser.add_argument('--max-samples', type=int)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args()
    try:
        items = []
        for title, config, ckpt in args.model:
            feats, labels = extract_features(config, ckpt, args.split,
                                             args.max_samples,
                                             args.cfg_options)
            items.append((title, feats, labels))
        plot_similarity(items, args.out)
    except USER_ERRORS as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
