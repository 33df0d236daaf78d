# Copyright (c) dckd_mm contributors. All rights reserved.
"""Reading checkpoints: the state dict inside any supported format, strict
loading with errors that say what to do, and what a mismatch is. Writing
lives in :mod:`.atomic`."""
import os.path as osp
from collections import OrderedDict
from typing import Any, Dict, List, Mapping

import torch.nn as nn
from mmengine.runner import CheckpointLoader, load_state_dict
from torch import Tensor

from ..compat import safe_loading
from ..errors import CheckpointError, MissingFileError

__all__ = [
    'extract_state_dict', 'load_model_strict', 'describe_mismatch',
    'non_finite_tensors'
]


def extract_state_dict(checkpoint: Any) -> Dict[str, Tensor]:
    """The state dict inside an mmengine / RepDistiller / plain checkpoint.

    Accepts ``{'state_dict': ...}`` (mmengine), ``{'model': ...}``
    (RepDistiller, CRD, SimKD, mdistiller), ``{'net': ...}`` or a bare
    state dict; strips a ``module.`` (DataParallel) prefix.

    Raises:
        CheckpointError: no non-empty mapping of names to tensors found.
    """
    if isinstance(checkpoint, Mapping):
        for key in ('state_dict', 'model', 'net'):
            if key in checkpoint and isinstance(checkpoint[key], Mapping):
                checkpoint = checkpoint[key]
                break
    if not isinstance(checkpoint, Mapping) or not checkpoint or not all(
            isinstance(v, Tensor) for v in checkpoint.values()):
        raise CheckpointError(
            'the checkpoint holds no state dict of tensors (expected '
            "'state_dict', 'model', 'net' or a bare state dict).")
    return OrderedDict(
        (k[len('module.'):] if k.startswith('module.') else k, v)
        for k, v in checkpoint.items())


def describe_mismatch(state: Mapping[str, Tensor],
                      reference: Mapping[str, Tensor],
                      limit: int = 8) -> str:
    """What keeps ``state`` from loading strictly where ``reference`` (a
    model's state dict) does: missing and unexpected keys, shape
    differences. Empty when it fits exactly."""
    missing = sorted(set(reference) - set(state))
    unexpected = sorted(set(state) - set(reference))
    shapes = [
        f'{k}: {tuple(state[k].shape)} vs model {tuple(reference[k].shape)}'
        for k in sorted(set(reference) & set(state))
        if tuple(state[k].shape) != tuple(reference[k].shape)
    ]
    parts: List[str] = []
    if missing:
        parts.append(f'{len(missing)} missing key(s), e.g. '
                     f'{missing[:limit]}')
    if unexpected:
        parts.append(f'{len(unexpected)} unexpected key(s), e.g. '
                     f'{unexpected[:limit]}')
    if shapes:
        parts.append(f'{len(shapes)} shape mismatch(es), e.g. '
                     f'{shapes[:limit // 2]}')
    return '; '.join(parts)


def load_model_strict(model: nn.Module, path: str, what: str = 'teacher',
                      config_key: str = 'teacher_ckpt') -> None:
    """Load ``path`` into ``model``, refusing any key or shape mismatch.

    mmengine reads the file (``CheckpointLoader``, whose local scheme is
    :func:`dckd_mm.compat.safe_load`: weights only) and loads the weights
    (``load_state_dict(strict=True)``). Between the two, the state dict is
    found by :func:`extract_state_dict` (mmengine's own loader only knows
    ``'state_dict'``; RepDistiller files hold ``'model'``) and checked
    here, so that a mismatch or a NaN gets a message that says what to do.

    Raises:
        MissingFileError: no file at ``path``, with how to get one.
        CheckpointError: keys or shapes do not fit the model, or a weight
            is NaN or Inf.
        UntrustedCheckpointError, CorruptCheckpointError: as
            :func:`dckd_mm.compat.safe_load`.
    """
    # absolute: no local name can be taken for an mmengine URL scheme
    local = osp.abspath(osp.expanduser(str(path)))
    if not osp.isfile(local):
        raise MissingFileError(
            f'{what} checkpoint {path!r} (config key {config_key!r}) does '
            'not exist. Train the teacher with its config under '
            'configs/zoo/, or convert a RepDistiller/SimKD file with '
            'tools/model_converters/convert_repdistiller_ckpt.py, then set '
            f'{config_key} (or --cfg-options model.{config_key}=PATH).')
    safe_loading.install()  # idempotent: mmengine's local loader is safe
    state = extract_state_dict(
        CheckpointLoader.load_checkpoint(local, map_location='cpu'))
    detail = describe_mismatch(state, model.state_dict())
    if detail:
        raise CheckpointError(
            f'{what} checkpoint {path!r} does not fit the {what} model in '
            f'the config: {detail}. Check the architecture (and '
            'num_classes) in the config, or convert a RepDistiller/SimKD '
            'file first with '
            'tools/model_converters/convert_repdistiller_ckpt.py.')
    bad = non_finite_tensors(state)
    if bad:
        raise CheckpointError(
            f'{what} checkpoint {path!r} holds NaN or Inf values in '
            f'{len(bad)} tensor(s), e.g. {bad[:4]}: the {what} diverged '
            'when it was trained, or the file is damaged. Re-train or '
            're-download it; distilling from it would give NaN losses.')
    load_state_dict(model, state, strict=True)


def non_finite_tensors(state: Mapping[str, Tensor]) -> List[str]:
    """Names of the floating-point tensors of ``state`` that hold a NaN
    or an Inf."""
    import torch
    return [
        k for k, v in state.items()
        if v.is_floating_point() and not bool(torch.isfinite(v).all())
    ]
