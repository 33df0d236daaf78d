# Copyright (c) dckd_mm contributors. All rights reserved.
"""No half-written checkpoint is ever taken as the latest.

mmengine 0.10.7 serialises a checkpoint in memory and writes it straight to
its final name; a process killed during that write leaves a truncated
``epoch_N.pth``. It then writes ``last_checkpoint`` (the name resume reads)
the same way, so a kill there leaves it empty.

Two narrow fixes, for local paths only:

* ``save_checkpoint`` writes ``<name>.partial``, flushes and fsyncs it, then
  renames it: the final name only ever holds a complete file;
* ``find_latest_checkpoint`` falls back, when ``last_checkpoint`` is empty
  or names a missing file, to the newest ``epoch_*.pth`` / ``iter_*.pth``
  of the work dir (``.partial`` files are never candidates).
"""
import glob
import io
import os
import os.path as osp
import re
from typing import Any, Callable, Optional

import torch

__all__ = ['install', 'atomic_save_checkpoint', 'robust_find_latest']

_ORIGINAL: dict = {}


def _is_local(path: str) -> bool:
    return '://' not in str(path)


def atomic_save_checkpoint(checkpoint: dict, filename: str,
                           file_client_args: Optional[dict] = None,
                           backend_args: Optional[dict] = None) -> None:
    """mmengine's ``save_checkpoint``, made atomic for local files."""
    if not _is_local(filename) or file_client_args or backend_args:
        return _ORIGINAL['save'](checkpoint, filename, file_client_args,
                                 backend_args)
    directory = osp.dirname(osp.abspath(filename))
    os.makedirs(directory, exist_ok=True)
    with io.BytesIO() as buf:
        torch.save(checkpoint, buf)
        data = buf.getvalue()
    tmp = filename + '.partial'
    with open(tmp, 'wb') as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, filename)


_NUMBERED = re.compile(r'(epoch|iter)_(\d+)\.pth$')


def robust_find_latest(path: str) -> Optional[str]:
    """``last_checkpoint`` if it names an existing file; else the newest
    complete ``epoch_*.pth``/``iter_*.pth`` in ``path``; else None."""
    found = _ORIGINAL['find'](path)
    if found and osp.isfile(found):
        return found
    candidates = []
    for name in glob.glob(osp.join(path, '*.pth')):
        match = _NUMBERED.search(osp.basename(name))
        if match:
            candidates.append((match.group(1) == 'iter',
                               int(match.group(2)), name))
    if not candidates:
        return None
    return max(candidates)[2]


def _patch(module: Any, name: str, new: Callable) -> None:
    if getattr(module, name, None) is not new:
        setattr(module, name, new)


def install() -> None:
    """Patch mmengine's module-level references (idempotent)."""
    import mmengine.runner as runner_pkg
    import mmengine.runner.checkpoint as ckpt
    import mmengine.runner.runner as runner_mod
    _ORIGINAL.setdefault('save', ckpt.save_checkpoint)
    _ORIGINAL.setdefault('find', ckpt.find_latest_checkpoint)
    for module in (ckpt, runner_mod, runner_pkg):
        _patch(module, 'save_checkpoint', atomic_save_checkpoint)
    for module in (ckpt, runner_mod):
        _patch(module, 'find_latest_checkpoint', robust_find_latest)


def uninstall() -> None:
    """Restore mmengine's originals (for tests)."""
    import mmengine.runner as runner_pkg
    import mmengine.runner.checkpoint as ckpt
    import mmengine.runner.runner as runner_mod
    if not _ORIGINAL:
        return
    for module in (ckpt, runner_mod, runner_pkg):
        setattr(module, 'save_checkpoint', _ORIGINAL['save'])
    for module in (ckpt, runner_mod):
        setattr(module, 'find_latest_checkpoint', _ORIGINAL['find'])
