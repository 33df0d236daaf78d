# Copyright (c) dckd_mm contributors. All rights reserved.
"""Student features for the paper's pictures: t-SNE coloured by class and
the sample similarity matrix, for one or several checkpoints."""
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from dckd_mm.compat.safe_loading import safe_load
from dckd_mm.models.builder import build_model
from dckd_mm.utils.checkpoint import extract_state_dict

__all__ = ['extract_features', 'tsne_embed', 'similarity_matrix',
           'plot_tsne', 'plot_similarity', 'plot_cli']


@torch.no_grad()
def extract_features(config: str, checkpoint: str,
                     split: str = 'test',
                     max_samples: Optional[int] = None,
                     cfg_options: Optional[dict] = None
                     ) -> Tuple[np.ndarray, np.ndarray]:
    """Pooled features (``stage='pre_logits'``) and labels of the student
    (the model itself for a plain classifier) on ``split``'s dataloader.

    For a SimKD student these are the pooled projected features, the input
    of the reused teacher classifier.
    """
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    key = f'{split}_dataloader'
    if key not in cfg:
        raise ValueError(f'{config} has no {key}.')
    dl_cfg = cfg[key].to_dict()
    dl_cfg.update(num_workers=0, persistent_workers=False, shuffle=None)
    if max_samples is not None:
        dl_cfg['dataset']['indices'] = max_samples
    if cfg.model.get('teacher_ckpt'):
        # the checkpoint analysed holds the teacher's weights already
        cfg.model.teacher_ckpt = None
    model = build_model(cfg.model.to_dict(), cfg.get('default_scope',
                                                     'mmpretrain'))
    state = extract_state_dict(safe_load(checkpoint, map_location='cpu'))
    model.load_state_dict(state, strict=True)
    model.eval()
    student = getattr(model, 'architecture', model)
    preproc = model.data_preprocessor
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope', 'mmpretrain')):
        loader = Runner.build_dataloader(dl_cfg)
    feats: List[np.ndarray] = []
    labels: List[np.ndarray] = []
    for batch in loader:
        data = preproc(batch, False)
        f = student.extract_feat(data['inputs'], stage='pre_logits')
        f = f[-1] if isinstance(f, (tuple, list)) else f
        feats.append(f.flatten(1).float().numpy())
        labels.append(np.array([int(s.gt_label) for s in
                                data['data_samples']]))
    return np.concatenate(feats), np.concatenate(labels)


def tsne_embed(features: np.ndarray, seed: int = 0) -> np.ndarray:
    """2-D t-SNE (scikit-learn, PCA init, fixed seed)."""
    from sklearn.manifold import TSNE
    perplexity = float(min(30, max(2, len(features) // 4)))
    return TSNE(n_components=2, init='pca', random_state=seed,
                perplexity=perplexity).fit_transform(features)


def similarity_matrix(features: np.ndarray,
                      labels: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Cosine similarity between samples, ordered by class."""
    order = np.argsort(labels, kind='stable')
    f = features[order]
    f = f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)
    return f @ f.T, labels[order]


def _figure(n: int):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 4), squeeze=False)
    return plt, fig, axes[0]


def plot_tsne(items: Sequence[Tuple[str, np.ndarray, np.ndarray]],
              out: str) -> str:
    """``items``: (title, features, labels); one panel each."""
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


def plot_similarity(items: Sequence[Tuple[str, np.ndarray, np.ndarray]],
                    out: str) -> str:
    plt, fig, axes = _figure(len(items))
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


def plot_cli(plot: Callable[[Sequence[Tuple[str, np.ndarray, np.ndarray]],
                             str], str], description: str,
             argv: Optional[Sequence[str]] = None) -> int:
    """Command line of ``tools/analysis_tools/*.py``: OUT.png and one or more
    ``--model TITLE CONFIG CHECKPOINT``; exits 2 on a user error."""
    import argparse
    import sys

    from mmengine.config import DictAction

    from dckd_mm.apis import USER_ERRORS
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
    except USER_ERRORS as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    print(f'wrote {args.out}')
    return 0
