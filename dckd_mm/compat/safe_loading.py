# Copyright (c) dckd_mm contributors. All rights reserved.
"""Safe checkpoint loading for mmengine on torch >= 2.6.

torch >= 2.6 loads with ``weights_only=True``: only tensors, containers and
allow-listed types may be rebuilt, so a checkpoint cannot run code. mmengine
0.10.7 writes a few more types into its checkpoints (its ``HistoryBuffer``,
numpy arrays and scalars) and its ``Runner`` can then not resume.

This module keeps safe loading on and allow-lists exactly those types:

* ``mmengine.logging.HistoryBuffer``;
* ``numpy.ndarray``, ``numpy.dtype`` (and the ``numpy.dtypes`` classes of
  the dtypes mmengine logs), ``numpy.core.multiarray._reconstruct`` and
  ``numpy.core.multiarray.scalar``;
* ``getattr(HistoryBuffer, 'min' | 'max' | 'current' | 'mean')``:
  HistoryBuffer pickles its statistics methods as ``getattr`` calls. The
  builtin ``getattr`` is *not* allow-listed (chained attribute access would
  escape any allow-list); a replacement answers only those four look-ups.

It also makes mmengine's local checkpoint loader explicit about safety:
``weights_only=True`` is passed (no environment variable can turn it off)
and a refused pickle raises :class:`UntrustedCheckpointError`, naming the
file and the callables it asked for. Nothing in the refused file runs.
"""
import os.path as osp
import pickle
from typing import Any, Callable, Iterable, List, Optional, Union

import torch

__all__ = [
    'UntrustedCheckpointError', 'CorruptCheckpointError', 'safe_load',
    'mmengine_safe_globals', 'install', 'is_installed'
]

_HISTORY_BUFFER_METHODS = frozenset({'min', 'max', 'current', 'mean'})


class UntrustedCheckpointError(pickle.UnpicklingError):
    """A checkpoint asks to run a callable that is not allow-listed."""


class CorruptCheckpointError(ValueError):
    """A checkpoint file is truncated or not a checkpoint at all."""


def _history_buffer_getattr(obj: Any, name: str) -> Callable:
    """``getattr`` limited to ``HistoryBuffer``'s statistics methods."""
    from mmengine.logging import HistoryBuffer
    if obj is HistoryBuffer and name in _HISTORY_BUFFER_METHODS:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'refused getattr({obj!r}, {name!r}): only HistoryBuffer.'
        f'{"/".join(sorted(_HISTORY_BUFFER_METHODS))} are allowed.')


def mmengine_safe_globals() -> List[Union[Callable, tuple]]:
    """The exact list of globals that mmengine 0.10.7 checkpoints need."""
    import numpy as np
    from mmengine.logging import HistoryBuffer
    try:  # numpy >= 2 moved these to numpy._core (pickles use that name)
        from numpy._core import multiarray
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core import multiarray
    allowed: List[Union[Callable, tuple]] = [
        HistoryBuffer,
        np.ndarray,
        np.dtype,
        multiarray._reconstruct,
        multiarray.scalar,
        (_history_buffer_getattr, 'builtins.getattr'),
    ]
    # numpy >= 1.25 pickles dtypes through these classes on numpy 2.
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        for name in ('Float64DType', 'Float32DType', 'Float16DType',
                     'Int64DType', 'Int32DType', 'BoolDType'):
            cls = getattr(dtypes, name, None)
            if cls is not None:
                allowed.append(cls)
    return allowed


def _unsafe_globals(path: str) -> List[str]:
    try:
        return list(torch.serialization.get_unsafe_globals_in_checkpoint(path))
    except Exception:  # not a zip checkpoint: names cannot be listed
        return []


def safe_load(path: str,
              map_location: Any = 'cpu',
              extra_safe_globals: Iterable[Any] = (),
              trusted: bool = False) -> Any:
    """``torch.load`` with ``weights_only=True`` and clear errors.

    Args:
        path (str): checkpoint file.
        map_location: as in :func:`torch.load`. Defaults to ``'cpu'``.
        extra_safe_globals: more types allowed for this call only (for
            example ``argparse.Namespace`` for RepDistiller's
            ``*_last.pth``).
        trusted (bool): load with ``weights_only=False``. Only for a file the
            user named explicitly (``--trust-checkpoint``); it can run code
            from the file. Defaults to False.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        UntrustedCheckpointError: the pickle asks for a callable that is not
            allow-listed; nothing from the file was executed.
        CorruptCheckpointError: the file is truncated or not a checkpoint.
    """
    path = osp.expanduser(str(path))
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint {path} does not exist.')
    if trusted:
        return torch.load(path, map_location=map_location, weights_only=False)
    try:
        with torch.serialization.safe_globals(list(extra_safe_globals)):
            return torch.load(
                path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        text = str(err)
        names = _unsafe_globals(path)
        # torch words every weights-only failure "Weights only load failed";
        # only a disallowed global (or a refused getattr) means untrusted.
        if not names and 'Unsupported global' not in text and \
                'refused getattr' not in text:
            raise CorruptCheckpointError(
                f'checkpoint {path} cannot be read: it is corrupt, truncated '
                'or not a PyTorch checkpoint. Re-download or re-create it.'
            ) from None
        named = ', '.join(names) if names else 'callables'
        raise UntrustedCheckpointError(
            f'refused to load untrusted checkpoint {path}: its pickle asks '
            f'for {named}, which is not on the allow-list of types that '
            'PyTorch, mmengine, mmpretrain, mmdet and RepDistiller/SimKD '
            'checkpoints contain, so it could run code. Nothing from it was '
            'executed. If you know where this file comes from and trust it, '
            'load it once with the --trust-checkpoint option of dckd_mm\'s '
            'tools (or dckd_mm.compat.safe_load(path, trusted=True)) and '
            're-save its state dict.') from None
    except (RuntimeError, EOFError, OSError) as err:
        raise CorruptCheckpointError(
            f'checkpoint {path} cannot be read: it is corrupt, truncated or '
            f'not a PyTorch checkpoint ({str(err).splitlines()[0]}). '
            'Re-download or re-create it.') from None


def _safe_load_from_local(filename: str, map_location: Optional[Any] = None
                          ) -> Any:
    """Replacement for mmengine's ``load_from_local`` scheme."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return safe_load(filename, map_location=map_location)


_INSTALLED = False


def install() -> None:
    """Allow-list mmengine's types and route mmengine's local loading
    through :func:`safe_load` (idempotent)."""
    global _INSTALLED
    if _INSTALLED:
        return
    torch.serialization.add_safe_globals(mmengine_safe_globals())
    from mmengine.runner.checkpoint import CheckpointLoader
    CheckpointLoader.register_scheme(
        prefixes='', loader=_safe_load_from_local, force=True)
    _INSTALLED = True


def is_installed() -> bool:
    return _INSTALLED
