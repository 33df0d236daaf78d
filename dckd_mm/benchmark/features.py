# Copyright (c) dckd_mm contributors. All rights reserved.
"""Student features for the paper's pictures: pooled features of a
checkpoint, their 2-D t-SNE and the sample similarity matrix."""
import os.path as osp
from typing import List, Optional, Tuple

import numpy as np
import torch
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

from ..apis import load_config
from ..compat.safe_loading import safe_load
from ..errors import ConfigError, MissingFileError
from ..models.builder import build_model
from ..utils.checkpoint import extract_state_dict

__all__ = ['extract_features', 'tsne_embed', 'similarity_matrix']


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

    Args:
        config (str): the config the checkpoint was trained with.
        checkpoint (str): the checkpoint (a whole distillation model or a
            plain classifier).
        split (str): ``'test'`` or ``'val'``.
        max_samples (int, optional): only the first ``max_samples``.
        cfg_options (dict, optional): cfg-options overrides.

    Returns:
        tuple: features ``(N, D)`` and labels ``(N, )``.

    Raises:
        MissingFileError: no checkpoint file (``FileNotFoundError``: no
            config).
        ConfigError: the config has no dataloader for ``split``, or
            ``max_samples`` is below 1.
    """
    cfg = load_config(config, cfg_options=cfg_options)
    if not osp.isfile(checkpoint):
        raise MissingFileError(f'checkpoint {checkpoint} does not exist.')
    if max_samples is not None and max_samples < 1:
        raise ConfigError(f'max_samples must be at least 1, not '
                          f'{max_samples}.')
    key = f'{split}_dataloader'
    if not cfg.get(key):
        raise ConfigError(f'{config} has no {key}.')
    dl_cfg = cfg[key].to_dict()
    dl_cfg.update(num_workers=0, persistent_workers=False, shuffle=None)
    if max_samples is not None:
        dl_cfg['dataset']['indices'] = max_samples
    if cfg.model.get('teacher_ckpt'):
        # the checkpoint analysed holds the teacher's weights already
        cfg.model.teacher_ckpt = None
    scope = cfg.get('default_scope', 'mmpretrain')
    model = build_model(cfg.model.to_dict(), scope)
    state = extract_state_dict(safe_load(checkpoint, map_location='cpu'))
    model.load_state_dict(state, strict=True)
    model.eval()
    student = getattr(model, 'architecture', model)
    preproc = model.data_preprocessor
    with DefaultScope.overwrite_default_scope(scope):
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
    """2-D t-SNE (scikit-learn, PCA init, fixed seed; perplexity
    ``min(30, max(2, N // 4))``)."""
    from sklearn.manifold import TSNE
    perplexity = float(min(30, max(2, len(features) // 4)))
    return TSNE(n_components=2, init='pca', random_state=seed,
                perplexity=perplexity).fit_transform(features)


def similarity_matrix(features: np.ndarray,
                      labels: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Cosine similarity between samples, ordered by class (stable).

    Returns:
        tuple: the ``(N, N)`` matrix and the labels in that order.
    """
    order = np.argsort(labels, kind='stable')
    f = features[order]
    f = f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)
    return f @ f.T, labels[order]
