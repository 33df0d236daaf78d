# Copyright (c) dckd_mm contributors. All rights reserved.
"""Writing files all or nothing: a kill, a full disk or a name that cannot
be written never leaves a truncated file, and never costs the file that
was there before. Reading lives in :mod:`.checkpoint`."""
import errno
import os
import os.path as osp
import shutil
import uuid
from typing import (Any, BinaryIO, Callable, Dict, List, Optional, Sequence,
                    Tuple)

from ..errors import OutOfSpaceError, OutputPathError

__all__ = ['atomic_save', 'atomic_write', 'atomic_write_files', 'check_output']


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
