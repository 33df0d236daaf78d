# Copyright (c) dckd_mm contributors. All rights reserved.
"""Plot the t-SNE of student features coloured by class,
for one or several checkpoints side by side.

Example (DCKD vs. SimKD, as the paper compares them)::

    python tools/analysis_tools/tsne.py out.png \\
        --model SimKD \\
        configs/demo/simkd_resnet20_resnet8_1xb64_digits.py a.pth \\
        --model DCKD configs/demo/dckd_resnet20_resnet8_1xb64_digits.py b.pth
"""
import os.path as osp
import sys

import dckd_mm  # noqa: F401

# the experiment code beside these tools (tools/analysis_tools/lib)
HERE = osp.dirname(osp.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
from lib.analysis import plot_cli, plot_tsne  # noqa: E402

if __name__ == '__main__':
    sys.exit(plot_cli(plot_tsne, __doc__))
