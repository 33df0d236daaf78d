# Copyright (c) dckd_mm contributors. All rights reserved.
"""Reading upstream checkpoint files: safe loading, and the state dict
inside, refused with :class:`ConversionError` when there is none."""
import argparse
from typing import Any, Mapping

from torch import Tensor

from ..compat.safe_loading import safe_load
from ..errors import ConversionError
from ..utils.checkpoint import extract_state_dict

__all__ = ['load_foreign_checkpoint', 'source_state_dict']


def load_foreign_checkpoint(path: str) -> Mapping[str, Any]:
    """Load a RepDistiller/CRD/mdistiller/SimKD file with safe loading.

    ``*_last.pth`` files pickle their ``argparse.Namespace`` options
    (``'opt'``): that one type is allowed, for this load only.

    Raises:
        ConversionError: the file holds no dict.
        FileNotFoundError, UntrustedCheckpointError,
        CorruptCheckpointError: from :func:`safe_load`.
    """
    ckpt = safe_load(path, extra_safe_globals=[argparse.Namespace])
    if not isinstance(ckpt, Mapping):
        raise ConversionError(f'{path} holds a {type(ckpt).__name__}, not '
                              'a checkpoint dict.')
    return ckpt


def source_state_dict(ckpt: Mapping[str, Any]) -> Mapping[str, Tensor]:
    """The state dict of an upstream checkpoint, found as
    :func:`~dckd_mm.utils.checkpoint.extract_state_dict` finds it
    (``'state_dict'``, ``'model'``, ``'net'`` or a bare state dict).

    Raises:
        ConversionError: there is none; the message names the file's keys.
    """
    try:
        return extract_state_dict(ckpt)
    except ValueError as err:
        keys = sorted(map(str, ckpt))[:10]
        raise ConversionError(
            "no state dict found: expected a 'model' entry (RepDistiller, "
            f'CRD, mdistiller, SimKD) among the keys {keys}.') from err
