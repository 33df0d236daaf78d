# Copyright (c) dckd_mm contributors. All rights reserved.
"""Checkpoint helpers: strict, safe loading with errors that say what to do,
and all-or-nothing writes."""
import errno
import os
import os.path as osp
import shutil
import uuid
from collections import OrderedDict
from typing import (Any, BinaryIO, Callable, Dict, List, Mapping, Optional,
                    Sequence, Tuple)

import torch.nn as nn
from mmengine.runner import CheckpointLoader, load_state_dict
from torch import Tensor

from ..compat import safe_loading
from ..errors import (CheckpointError, MissingFileError, OutOfSpaceError,
                      OutputPathError)

__all__ = [
    'extract_state_dict', 'load_model_strict', 'describe_mismatch',
    'atomic_save', 'atomic_write', 'atomic_write_files', 'check_output',
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


def check_output(path: str, what: str = 'output') -> None:
    """Refuse, before anything is written, an output name that cannot be
    written.

    ``path`` must not be a folder, and the nearest folder above it that
    exists must be a writable folder (missing folders in between are
    created by the writers).

    Args:
        path (str): the file to be written.
        what (str): what it is, for the message (``'student config'``).

    Raises:
        OutputPathError: ``path`` is empty or a folder, lies under a file,
            or its folder cannot be written.
    """
    if not path or not str(path).strip():
        raise OutputPathError(f'{what}: the file name is empty.')
    full = osp.abspath(osp.expanduser(str(path)))
    if osp.isdir(full):
        raise OutputPathError(
            f'{what} {path} is a folder: name a file to write (a folder is '
            'never replaced); nothing was written.')
    parent = osp.dirname(full)
    while not osp.exists(parent):
        parent = osp.dirname(parent)
    if not osp.isdir(parent):
        raise OutputPathError(
            f'{what} {path}: {parent} is a file, not a folder; nothing '
            'was written.')
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputPathError(
            f'{what} {path}: the folder {parent} is not writable; choose '
            'another folder or change its permissions. Nothing was '
            'written.')


# errnos of a write that failed for want of room
_NO_ROOM = {
    getattr(errno, name)
    for name in ('ENOSPC', 'EFBIG', 'EDQUOT') if hasattr(errno, name)
}


def _no_room_cause(err: BaseException) -> Optional[OSError]:
    """The ``OSError`` of a full disk, a full quota or a file-size limit
    that ``err`` is or that caused it (torch's zip writer re-raises it as
    ``RuntimeError: ... unexpected pos``, with the ``OSError`` as its
    context), or None."""
    seen = set()
    inner: Optional[BaseException] = err
    while inner is not None and id(inner) not in seen:
        seen.add(id(inner))
        if isinstance(inner, OSError) and inner.errno in _NO_ROOM:
            return inner
        inner = inner.__cause__ or inner.__context__
    return None


def _out_of_space(path: str, cause: OSError) -> OutOfSpaceError:
    """The user error for ``cause``, a failed write of ``path``."""
    directory = osp.dirname(osp.abspath(path))
    try:
        free = f'{shutil.disk_usage(directory).free / 2**20:.1f} MiB free'
    except OSError:
        free = 'free space unknown'
    if cause.errno == errno.EFBIG:
        what = ('the file would exceed the file-size limit of this process '
                '(`ulimit -f`): raise the limit')
    else:
        what = 'the disk or quota is full: free some space'
    reason = cause.strerror or os.strerror(cause.errno)
    err = OutOfSpaceError(
        f'writing {path} failed: {reason} ({free} on {directory}); '
        f'{what}, or write to another disk, and run again. {path} was '
        'left as it was and no .partial file was kept.')
    err.errno = cause.errno
    err.filename = path
    return err


def _write_partial(path: str, tmp: str,
                   write: Callable[[BinaryIO], Any]) -> None:
    """Fill ``tmp`` with ``write``, flush and fsync it; on any failure
    remove it (a full disk becomes :class:`OutOfSpaceError` naming
    ``path``)."""
    try:
        with open(tmp, 'wb') as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
    except BaseException as err:
        _remove_quietly(tmp)
        cause = _no_room_cause(err)
        if cause is not None:
            raise _out_of_space(path, cause) from err
        raise


def _remove_quietly(*paths: str) -> None:
    """Remove the files that exist among ``paths``, ignoring errors."""
    for path in paths:
        try:
            os.remove(path)
        except OSError:
            pass


def atomic_write(path: str, write: Callable[[BinaryIO], Any]) -> None:
    """Write the file ``path`` all or nothing.

    ``write(f)`` fills ``path.partial`` (opened ``'wb'``, in the same
    directory so that the rename stays on one file system), which is then
    flushed, fsynced and renamed over ``path``; the directory is fsynced
    too where the OS allows it, so that the rename survives a power loss.
    ``path`` only ever holds a complete file: a kill leaves at most the
    ``.partial``, and a failed write (a full disk, an interrupt) removes
    it and leaves ``path`` as it was.

    Raises:
        OutOfSpaceError: the disk or quota is full, or the file-size limit
            is reached (also when torch's zip writer reports it as a
            ``RuntimeError``); the message names the file and the free
            space.
    """
    directory = osp.dirname(osp.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = path + '.partial'
    _write_partial(path, tmp, write)
    try:
        os.replace(tmp, path)
    except BaseException:
        _remove_quietly(tmp)
        raise
    _fsync_directory(directory)


def atomic_write_files(
        files: Sequence[Tuple[str, Callable[[BinaryIO], Any]]],
        verify: Optional[Callable[[List[str]], None]] = None) -> None:
    """Write several files all or nothing: afterwards either every path
    holds its new content, or every path is as it was.

    Each ``write`` fills ``path.partial`` (as :func:`atomic_write`);
    ``verify`` then gets the ``.partial`` names and may raise. Only then
    are the files renamed into place, in order; an existing file is kept
    as a hard link (a copy where links fail) until every rename is done,
    and a failed rename puts back what the earlier ones replaced. A kill
    between two renames can still leave a mixed pair: no two renames are
    one atomic step.

    Args:
        files (Sequence[Tuple[str, Callable]]): ``(path, write)`` pairs,
            distinct paths.
        verify (Callable, optional): called with the ``.partial`` paths, in
            the order of ``files``, after every write.

    Raises:
        OutOfSpaceError: as :func:`atomic_write`; nothing was changed.
    """
    paths = [str(p) for p, _ in files]
    if len(set(map(osp.abspath, paths))) != len(paths):
        raise ValueError(f'atomic_write_files: repeated paths in {paths}')
    tmps = [p + '.partial' for p in paths]
    try:
        for path, tmp, (_, write) in zip(paths, tmps, files):
            os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
            _write_partial(path, tmp, write)
        if verify is not None:
            verify(list(tmps))
        try:
            _rename_all(tmps, paths)
        except OSError as err:  # a backup copy that did not fit
            cause = _no_room_cause(err)
            if cause is None:
                raise
            raise _out_of_space(paths[0], cause) from err
    finally:
        _remove_quietly(*[t for t in tmps if osp.lexists(t)])
    for directory in sorted({osp.dirname(osp.abspath(p)) for p in paths}):
        _fsync_directory(directory)


def _keep(path: str) -> str:
    """A hard link to (or a copy of) the file ``path``, beside it."""
    backup = f'{path}.{uuid.uuid4().hex[:8]}.backup'
    try:
        os.link(path, backup)
    except OSError:
        shutil.copy2(path, backup)
    return backup


def _rename_all(tmps: List[str], paths: List[str]) -> None:
    """Rename each of ``tmps`` over its path; on a failure undo the
    renames already done (restore the kept old file, or remove the new
    one where there was none)."""
    kept: Dict[str, Optional[str]] = {}
    done: List[str] = []
    try:
        for i, (tmp, path) in enumerate(zip(tmps, paths)):
            if i < len(paths) - 1:  # the last rename needs no undo
                kept[path] = _keep(path) if osp.isfile(path) else None
            os.replace(tmp, path)
            done.append(path)
    except BaseException:
        for path in reversed(done):
            backup = kept.pop(path)
            if backup is None:
                _remove_quietly(path)
            else:
                os.replace(backup, path)
        _remove_quietly(*[b for b in kept.values() if b])
        raise
    _remove_quietly(*[b for b in kept.values() if b])


def _fsync_directory(directory: str) -> None:
    """fsync a directory (its entries); a no-op where the OS cannot
    open directories (Windows) or the file system refuses."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_save(obj: Any, path: str) -> None:
    """``torch.save`` through :func:`atomic_write`: a crash never leaves a
    half-written file under ``path``, and a failed write removes its
    ``.partial``.

    Raises:
        OutOfSpaceError: as :func:`atomic_write`.
    """
    import torch
    atomic_write(path, lambda f: torch.save(obj, f))
