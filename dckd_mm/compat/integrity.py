# Copyright (c) dckd_mm contributors. All rights reserved.
"""Checkpoint integrity: the zip container's CRC-32 of every record.

``torch.save`` writes a zip archive (unless asked for the legacy format)
whose records (``archive/data.pkl``, one ``archive/data/N`` per tensor
storage, ``archive/version``...) are stored uncompressed, each with the
CRC-32 of its bytes in the zip headers. ``torch.load`` does not compare
them: four flipped bytes inside a tensor's record load silently as a
different weight. :func:`verify_checkpoint` recomputes every record's
CRC-32 (:meth:`zipfile.ZipFile.testzip`) before anything is unpickled,
so a damaged file is refused whole, naming the file and the record.

What is checked, and what is not:

* zip checkpoints (every file ``torch.save`` writes by default, and every
  checkpoint dckd_mm and mmengine write): every byte of every record (the
  pickle, each tensor storage, the version records), the local header of
  each record against the central directory (name, position) and the
  central directory itself (it must parse). Not covered: bytes outside
  the records (the alignment padding in the local headers' extra field,
  which ``torch.load`` never reads either).
* legacy checkpoints (``_use_new_zipfile_serialization=False``, old
  RepDistiller/SimKD files) have no checksum: :func:`verify_checkpoint`
  checks nothing there. ``torch.load`` still refuses a truncated file, a
  damaged pickle or a storage shorter than its header says, but flipped
  bytes inside tensor data load as different weights.
"""
import io
import zipfile
from typing import Any, List, Optional

from ..errors import CorruptCheckpointError

__all__ = [
    'is_zip_checkpoint', 'damaged_record', 'tensors_in_record',
    'verify_checkpoint'
]

# torch.load takes a file for a zip archive exactly when it starts with a
# zip local file header (torch.serialization._is_zipfile); the same test
# here, so that the verified format is the format torch reads.
_ZIP_MAGIC = b'PK\x03\x04'


def is_zip_checkpoint(path: str) -> bool:
    """Whether ``torch.load`` reads ``path`` as a zip archive.

    Args:
        path (str): an existing file.

    Returns:
        bool: True when the file starts with a zip local file header.
    """
    with open(path, 'rb') as f:
        return f.read(len(_ZIP_MAGIC)) == _ZIP_MAGIC


def damaged_record(path: str) -> Optional[str]:
    """The first record of zip checkpoint ``path`` whose bytes do not match
    their CRC-32 (or whose local header does not match the central
    directory), or None when every record is intact.

    Args:
        path (str): a zip checkpoint.

    Returns:
        str, optional: the record's name in the archive, e.g.
        ``'archive/data/3'``.

    Raises:
        zipfile.BadZipFile, OSError, EOFError, ...: the archive itself
            cannot be read (no central directory, truncated record).
    """
    with zipfile.ZipFile(path) as zf:
        return zf.testzip()


class _Storage:
    """Stands for a tensor storage while the pickle is scanned."""

    def __init__(self, key: str) -> None:
        self.key = key


def _rebuild(storage: Any, *args: Any, **kwargs: Any) -> Any:
    """Any of torch's ``_rebuild_*`` functions: the storage marker."""
    return storage if isinstance(storage, _Storage) else None


def _paths_to(obj: Any, key: str, where: str, found: List[str],
              depth: int = 0) -> None:
    if len(found) >= 3 or depth > 16:
        return
    if isinstance(obj, _Storage):
        if obj.key == key:
            found.append(where)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _paths_to(v, key, f'{where}[{k!r}]', found, depth + 1)
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            _paths_to(v, key, f'{where}[{i}]', found, depth + 1)


def tensors_in_record(path: str, record: str) -> List[str]:
    """Where in the checkpoint the tensors stored in ``record`` are, e.g.
    ``["ckpt['state_dict']['student.fc.weight']"]`` for
    ``'archive/data/3'`` (at most 3; empty when unknown).

    The archive's ``data.pkl`` is unpickled with the allow-list of
    :mod:`._restricted_pickle` (nothing else is rebuilt), its storages
    and tensors replaced by markers: no tensor data is read.

    Args:
        path (str): a zip checkpoint whose ``data.pkl`` is intact.
        record (str): a storage record, ``'<prefix>/data/<key>'``.

    Returns:
        List[str]: the tensors' places, or ``[]``.
    """
    prefix, sep, key = record.rpartition('/data/')
    if not sep or '/' in key:
        return []
    try:
        from . import _restricted_pickle
        with zipfile.ZipFile(path) as zf:
            data = zf.read(f'{prefix}/data.pkl')

        class _Scan(_restricted_pickle.Unpickler):

            def persistent_load(self, pid: Any) -> Any:
                return _Storage(str(pid[2]))

            def find_class(self, module: str, name: str) -> Any:
                if module == 'torch._utils' and name.startswith('_rebuild'):
                    return _rebuild
                return super().find_class(module, name)

        obj = _Scan(io.BytesIO(data), encoding='utf-8').load()
    except Exception:  # anything odd: the record's name must do
        return []
    found: List[str] = []
    _paths_to(obj, key, 'ckpt', found)
    return found


def verify_checkpoint(path: str) -> bool:
    """Refuse a damaged zip checkpoint before anything is read from it.

    Args:
        path (str): an existing checkpoint file.

    Returns:
        bool: True when ``path`` is a zip checkpoint and every record
        matched its CRC-32; False for any other file (a legacy checkpoint,
        a raw pickle: there is no checksum to verify, ``torch.load``
        decides).

    Raises:
        CorruptCheckpointError: a record's bytes do not match its CRC-32
            (naming the file and the record), or the zip container cannot
            be read at all (no central directory, truncated).
    """
    if not is_zip_checkpoint(path):
        return False
    try:
        bad = damaged_record(path)
    except Exception as err:  # the container itself is unreadable
        lines = str(err).strip().splitlines()
        reason = type(err).__name__ + (f': {lines[0][:120]}'
                                       if lines else '')
        raise CorruptCheckpointError(
            f'checkpoint {path} cannot be read: it is corrupt, truncated '
            f'or not a PyTorch checkpoint (its zip container: {reason}). '
            'Nothing was loaded from it. Re-download or re-create it.'
        ) from None
    if bad is not None:
        where = tensors_in_record(path, bad)
        held = f' (holding {", ".join(where)})' if where else ''
        raise CorruptCheckpointError(
            f'checkpoint {path} is corrupt: record {bad!r}{held} does not '
            'match the CRC-32 stored for it in the zip container (the bytes '
            'on disk are not the bytes that were written). Nothing was '
            'loaded from it. Re-download or re-create it, or use an '
            'earlier checkpoint.')
    return True
