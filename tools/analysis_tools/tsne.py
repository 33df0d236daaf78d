# Copyright (c) dckd_mm contributors. All rights reserved.
"""Plot the t-SNE of student features coloured by class,
for one or several checkpoints side by side.

Example (DCKD vs. SimKD, as the paper compares them)::

    python tools/analysis_tools/tsne.py out.png \\
        --model SimKD \\
        configs/demo/simkd_resnet20_resnet8_1xb64_digits.py a.pth \\
        --model DCKD configs/demo/dckd_resnet20_resnet8_1xb64_digits.py b.pth
"""
import sys

from dckd_mm.benchmark.feature_plots import plot_cli, plot_tsne

if __name__ == '__main__':
    sys.exit(plot_cli(plot_tsne, __doc__))
