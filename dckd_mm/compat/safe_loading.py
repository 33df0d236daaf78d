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

Before anything is unpickled, a zip checkpoint's records are checked
against the CRC-32 the zip container stores for each
(:func:`.integrity.verify_checkpoint`): a damaged file raises
:class:`CorruptCheckpointError` naming the file and the record, and
nothing of it is loaded. Legacy (non-zip) checkpoints carry no checksum.
"""
import io
import os.path as osp
import pickle
import re
from typing import Any, Callable, Iterable, List, Optional, Union

import torch

from ..errors import (CorruptCheckpointError, MissingFileError,
                      UntrustedCheckpointError)
from . import pickle_scan
from .integrity import verify_checkpoint
from .registry import Fix, Patches

__all__ = [
    'UntrustedCheckpointError', 'CorruptCheckpointError', 'safe_load',
    'mmengine_safe_globals', 'install', 'uninstall', 'is_installed',
    'needed', 'FIX'
]

_HISTORY_BUFFER_METHODS = frozenset({'min', 'max', 'current', 'mean'})


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


def _corrupt(path: str, err: BaseException) -> CorruptCheckpointError:
    lines = str(err).strip().splitlines()
    reason = type(err).__name__ + (f': {lines[0][:120]}' if lines else '')
    return CorruptCheckpointError(
        f'checkpoint {path} cannot be read: it is corrupt, truncated or '
        f'not a PyTorch checkpoint ({reason}). Re-download or re-create '
        'it.')


def _untrusted(path: str, names: List[str]) -> UntrustedCheckpointError:
    named = ', '.join(names[:8]) if names else 'callables'
    return UntrustedCheckpointError(
        f'refused to load untrusted checkpoint {path}: its pickle asks '
        f'for {named}, which is not on the allow-list of types that '
        'PyTorch, mmengine, mmpretrain, mmdet and RepDistiller/SimKD '
        'checkpoints contain, so it could run code. Nothing from it was '
        'executed. dckd_mm\'s tools never load such a file. If you know '
        'where it comes from and trust it, load it once in Python with '
        'dckd_mm.compat.safe_load(path, trusted=True) (this runs whatever '
        'code the file holds), re-save its state dict with '
        "torch.save({'state_dict': state_dict}, new_path) and use the "
        're-saved file.')


def safe_load(path: str,
              map_location: Any = 'cpu',
              extra_safe_globals: Iterable[Any] = (),
              trusted: bool = False) -> Any:
    """``torch.load`` with ``weights_only=True`` and clear errors.

    Whatever the file holds (nothing, text, random bytes, a truncated zip
    or legacy checkpoint, a hostile pickle), only the errors below are
    raised.

    Args:
        path (str): checkpoint file.
        map_location: as in :func:`torch.load`. Defaults to ``'cpu'``.
        extra_safe_globals: more types allowed for this call only (for
            example ``argparse.Namespace`` for RepDistiller's
            ``*_last.pth``).
        trusted (bool): load with ``weights_only=False``. Only for a file
            the user trusts and loads explicitly from Python (no tool offers
            this); it can run code from the file. Re-save the state dict to
            get a file that loads safely. Defaults to False.

    Raises:
        MissingFileError: ``path`` does not exist (a ``FileNotFoundError``).
        UntrustedCheckpointError: the pickle (zip, legacy or raw) asks for
            a callable that is not allow-listed; nothing from the file was
            executed.
        CorruptCheckpointError: the file cannot be read as a checkpoint
            (empty, truncated, text, random bytes, unreadable), or a record
            of a zip checkpoint does not match its CRC-32 (the message
            names the record, e.g. ``'archive/data/3'``); checked before
            anything is unpickled, for trusted files too.
    """
    path = osp.expanduser(str(path))
    if not osp.isfile(path):
        raise MissingFileError(f'checkpoint {path} does not exist.')
    try:
        verify_checkpoint(path)
    except OSError as err:  # unreadable (permissions, I/O error)
        raise _corrupt(path, err) from None
    extra = list(extra_safe_globals)
    if trusted:
        try:
            return torch.load(
                path, map_location=map_location, weights_only=False)
        except Exception as err:
            raise _corrupt(path, err) from None
    if not _HAS_SAFE_GLOBALS:
        return _restricted_load(path, map_location, extra)
    with torch.serialization.safe_globals(extra):
        try:
            return torch.load(
                path, map_location=map_location, weights_only=True)
        except Exception as err:  # any failure: untrusted or corrupt
            failure: Exception = err
            names = pickle_scan.unsafe_globals(path)
    text = str(failure)
    # torch words every weights-only failure "Weights only load failed";
    # only a disallowed global (or a refused getattr) means untrusted. A
    # truncated file can end inside an allowed global's name, which torch
    # reports as an unsupported global with an empty part ('a.b..'): that
    # file is damaged, not hostile.
    refused = re.search(r'Unsupported global: GLOBAL (\S+) was not', text)
    if refused and pickle_scan.DOTTED.fullmatch(refused.group(1)) and \
            pickle_scan.names_global(path, refused.group(1)):
        names = names or [refused.group(1)]
    if names or 'refused getattr' in text:
        raise _untrusted(path, names)
    raise _corrupt(path, failure)


def load_from_local(filename: str, map_location: Optional[Any] = None
                    ) -> Any:
    """Replacement for mmengine's ``load_from_local`` scheme (same name:
    mmengine's log line names the backend from it)."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise MissingFileError(f'{filename} can not be found.')
    return safe_load(filename, map_location=map_location)


# torch >= 2.5 lets callers allow-list types for weights-only loading;
# older torch has a fixed allow-list, and mmengine's types (HistoryBuffer,
# numpy scalars) are loaded through a restricted pickle module instead
# (:mod:`._restricted_pickle`).
_HAS_SAFE_GLOBALS = hasattr(torch.serialization, 'safe_globals') and \
    hasattr(torch.serialization, 'add_safe_globals')


def _restricted_load(path: str, map_location: Any,
                     extra: List[Any]) -> Any:
    """:func:`safe_load` where torch cannot extend its weights-only
    allow-list: ``torch.load`` with a pickle module whose ``find_class``
    admits only torch's own weights-only globals, mmengine's types and
    ``extra``. Anything else is refused before it is imported."""
    from . import _restricted_pickle
    try:
        with _restricted_pickle.extra_globals(extra):
            return torch.load(path, map_location=map_location,
                              pickle_module=_restricted_pickle,
                              weights_only=False)
    except _restricted_pickle.RefusedGlobal as err:
        raise _untrusted(path, [err.qualname]) from None
    except pickle.UnpicklingError as err:
        if 'refused getattr' not in str(err):
            raise _corrupt(path, err) from None
        raise _untrusted(path, [f'builtins.getattr ({err})']) from None
    except Exception as err:
        raise _corrupt(path, err) from None


def _mmengine_checkpoint_bytes() -> bytes:
    """A tiny checkpoint with what mmengine's Runner writes besides
    tensors: a HistoryBuffer and numpy scalars."""
    import numpy as np
    from mmengine.logging import HistoryBuffer
    buf = io.BytesIO()
    history = HistoryBuffer()
    history.update(np.float64(1.5))
    torch.save({'message_hub': {'loss': history}, 'w': torch.ones(2),
                'seed': np.int64(3)}, buf)
    return buf.getvalue()


def _foreign_pickle_bytes() -> bytes:
    """A checkpoint holding a harmless object of a type that is on no
    allow-list (``argparse.Namespace``): loading it means the loader would
    also rebuild any other global, i.e. run code."""
    import argparse
    buf = io.BytesIO()
    torch.save({'args': argparse.Namespace(probe=1)}, buf)
    return buf.getvalue()


def needed() -> Optional[str]:
    """Feature test: does ``torch.load`` as mmengine calls it (no
    ``weights_only`` argument) refuse mmengine's own checkpoints, or does
    it accept a foreign pickle? Probes the host as it is: :func:`apply`
    calls it before installing (afterwards the allow-list is in place and
    the first probe passes); the decision is in ``compat.status()``."""
    reasons = []
    try:
        torch.load(io.BytesIO(_mmengine_checkpoint_bytes()),
                   map_location='cpu')
    except Exception:
        reasons.append(
            'torch loads with weights_only=True by default and refuses '
            "mmengine's own checkpoints (HistoryBuffer, numpy scalars): "
            'resume fails without the fix')
    try:
        torch.load(io.BytesIO(_foreign_pickle_bytes()), map_location='cpu')
    except Exception:
        pass
    else:
        reasons.append(
            'torch loads with weights_only=False by default: mmengine '
            'would rebuild any global a checkpoint names, i.e. run its '
            'code; the fix loads every checkpoint with an allow-list')
    return '; '.join(reasons) or None


_PATCHES = Patches()
_ADDED_GLOBALS: List[Any] = []


def install() -> None:
    """Allow-list mmengine's types (where torch can) and route mmengine's
    local loading through :func:`safe_load` (idempotent)."""
    if _PATCHES.active:
        return
    from mmengine.runner.checkpoint import CheckpointLoader
    if _HAS_SAFE_GLOBALS:
        allowed = mmengine_safe_globals()
        torch.serialization.add_safe_globals(allowed)
        _ADDED_GLOBALS[:] = allowed
    schemes = CheckpointLoader._schemes
    _PATCHES.set(CheckpointLoader, '_schemes', dict(schemes))
    CheckpointLoader.register_scheme(
        prefixes='', loader=load_from_local, force=True)


def uninstall() -> None:
    """Give mmengine back its own local loader and remove the types this
    module allow-listed."""
    _PATCHES.restore()
    if _ADDED_GLOBALS and hasattr(torch.serialization, 'clear_safe_globals'):
        ours = {id(g) for g in _ADDED_GLOBALS}
        kept = [g for g in torch.serialization.get_safe_globals()
                if id(g) not in ours]
        torch.serialization.clear_safe_globals()
        torch.serialization.add_safe_globals(kept)
    _ADDED_GLOBALS.clear()


def is_installed() -> bool:
    """Whether mmengine's local loader is :func:`load_from_local`."""
    return _PATCHES.active


FIX = Fix(
    name='safe_loading',
    summary="mmengine's local checkpoint loader loads with an allow-list "
    "(torch's weights-only types plus mmengine's own, nothing else)",
    needed=needed,
    install=install,
    uninstall=uninstall)
