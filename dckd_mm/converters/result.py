# Copyright (c) dckd_mm contributors. All rights reserved.
"""What a verified conversion returns, and how it is written."""
from dataclasses import dataclass
from typing import Dict

from torch import Tensor

from ..utils.atomic import atomic_save

__all__ = ['ConversionResult']


@dataclass(frozen=True)
class ConversionResult:
    """A conversion that passed every check.

    Attributes:
        state_dict (dict): the converted weights; they load strictly into
            the model of ``model_cfg``.
        model_cfg (dict): the mmpretrain model config they are for.
        meta (dict): what was converted from what (``source``, ``arch``,
            the source's ``epoch``/``best_acc`` when it has them,
            ``self_check_max_abs_diff`` when the logits were compared).
    """
    state_dict: Dict[str, Tensor]
    model_cfg: dict
    meta: dict

    def save(self, path: str) -> None:
        """Write ``{'state_dict', 'meta'}`` to ``path`` atomically (an
        existing file is replaced only by a complete one)."""
        atomic_save({'state_dict': self.state_dict, 'meta': self.meta}, path)
