# Copyright (c) dckd_mm contributors. All rights reserved.
"""The t-SNE and similarity pictures, one panel per checkpoint, and the
command line of ``tools/analysis_tools/{tsne,similarity_matrix}.py``."""
import argparse
from typing import Any, Callable, Optional, Sequence, Tuple

import numpy as np

from .features import extract_features, similarity_matrix, tsne_embed

__all__ = ['plot_tsne', 'plot_similarity', 'plot_cli']

Item = Tuple[str, np.ndarray, np.ndarray]  # (title, features, labels)


def _figure(n: int) -> Tuple[Any, Any, Any]:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 4), squeeze=False)
    return plt, fig, axes[0]


def plot_tsne(items: Sequence[Item], out: str) -> str:
    """One t-SNE panel per ``(title, features, labels)``, coloured by
    class; returns ``out``."""
    plt, fig, axes = _figure(len(items))
    for ax, (title, feats, labels) in zip(axes, items):
        emb = tsne_embed(feats)
        ax.scatter(emb[:, 0], emb[:, 1], c=labels, cmap='tab10', s=6)
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot_similarity(items: Sequence[Item], out: str) -> str:
    """One similarity-matrix panel per ``(title, features, labels)``,
    samples ordered by class; returns ``out``."""
    plt, fig, axes = _figure(len(items))
    im = None
    for ax, (title, feats, labels) in zip(axes, items):
        sim, _ = similarity_matrix(feats, labels)
        im = ax.imshow(sim, cmap='viridis', vmin=-1, vmax=1)
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(im, ax=list(axes), shrink=0.8)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot_cli(plot: Callable[[Sequence[Item], str], str], description: str,
             argv: Optional[Sequence[str]] = None) -> int:
    """Command line: OUT.png and one or more ``--model TITLE CONFIG
    CHECKPOINT``.

    Returns:
        int: the exit status: 0, or 2 after ``error: ...`` on a user error
        (1 with a traceback on anything else).
    """
    from mmengine.config import DictAction

    from ..apis import report_error
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('out', help='PNG to write')
    parser.add_argument(
        '--model', nargs=3, action='append', required=True,
        metavar=('TITLE', 'CONFIG', 'CHECKPOINT'))
    parser.add_argument('--split', default='test', choices=['test', 'val'])
    parser.add_argument('--max-samples', type=int)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args(argv)
    try:
        items = []
        for title, config, ckpt in args.model:
            feats, labels = extract_features(config, ckpt, args.split,
                                             args.max_samples,
                                             args.cfg_options)
            items.append((title, feats, labels))
        plot(items, args.out)
    except Exception as err:
        return report_error(err)
    print(f'wrote {args.out}')
    return 0
