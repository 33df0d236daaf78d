# Copyright (c) dckd_mm contributors. All rights reserved.
"""Build a model config outside a Runner, in a given registry scope."""
from mmengine.registry import DefaultScope
from torch import nn

__all__ = ['build_model']


def build_model(cfg: dict, scope: str = 'mmpretrain') -> nn.Module:
    """Build ``cfg`` with ``scope`` as the default scope (restored after).

    ``cfg`` may carry its own ``_scope_`` (e.g. ``'mmrazor'`` for a
    distillation algorithm).
    """
    import mmpretrain.models  # noqa: F401  (registers mmpretrain's models)
    from mmpretrain.registry import MODELS
    with DefaultScope.overwrite_default_scope(scope):
        return MODELS.build(dict(cfg))
