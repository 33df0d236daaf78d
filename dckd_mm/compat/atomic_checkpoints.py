# Copyright (c) dckd_mm contributors. All rights reserved.
"""No checkpoint is half-written, and none is lost in rotation.

mmengine 0.10.7 serialises a checkpoint in memory and writes it straight to
its final name; a process killed during that write leaves a truncated
``epoch_N.pth``. It writes ``last_checkpoint`` (the name resume reads) the
same way, so a kill there leaves it empty. Its ``CheckpointHook`` deletes
the checkpoint that falls out of ``max_keep_ckpts`` (and the previous
``best_*.pth``) *before* writing the new one: a kill in between leaves no
checkpoint at all, and ``last_checkpoint`` names the deleted file.

The fixes, for local paths:

* ``save_checkpoint`` writes ``<name>.partial``, flushes and fsyncs it, then
  renames it: the final name only ever holds a complete file, and a failed
  write (a full disk) removes its ``.partial`` (the writer of every
  checkpoint dckd_mm writes, ``dckd_mm.utils.atomic.atomic_write``);
* ``CheckpointHook`` writes the new checkpoint, then ``last_checkpoint``
  (atomically, so it only ever names a complete file), and deletes the old
  checkpoint last; the previous ``best_*.pth`` is deleted only after the
  new one is complete;
* ``find_latest_checkpoint`` falls back, when ``last_checkpoint`` is empty,
  cannot be read (not text, a folder, no permission; with a warning)
  or names a missing file, to the newest ``epoch_*.pth`` / ``iter_*.pth``
  that loads and carries optimizer state (never a weights-only
  ``best_*.pth``, never a ``.partial``).
"""
import glob
import locale
import logging
import os.path as osp
import re
from typing import Any, Callable, List, Optional, Tuple

from .registry import Fix, Patches

__all__ = [
    'install', 'uninstall', 'atomic_save_checkpoint', 'robust_find_latest',
    'is_resumable', 'numbered_checkpoints', 'needed', 'FIX'
]

_PATCHES = Patches()


def _original(name: str) -> Callable:
    """mmengine's own function, whether or not the fix is installed."""
    import mmengine.runner.checkpoint as ckpt
    from mmengine.hooks import CheckpointHook
    owner = CheckpointHook if name.startswith('_save') else ckpt
    return _PATCHES.original(owner, name)


def _is_local(path: str) -> bool:
    return '://' not in str(path)


def atomic_save_checkpoint(checkpoint: dict, filename: str,
                           file_client_args: Optional[dict] = None,
                           backend_args: Optional[dict] = None) -> None:
    """mmengine's ``save_checkpoint``, made atomic for local files (with
    ``dckd_mm.utils.atomic.atomic_save``)."""
    if not _is_local(filename) or file_client_args or backend_args:
        return _original('save_checkpoint')(
            checkpoint, filename, file_client_args, backend_args)
    # imported here: dckd_mm.utils (its checkpoint module) imports this
    # package
    from ..utils.atomic import atomic_save
    atomic_save(checkpoint, filename)


_NUMBERED = re.compile(r'(epoch|iter)_(\d+)\.pth')


def is_resumable(path: str) -> bool:
    """Whether ``path`` is a complete checkpoint that can resume training:
    it loads (safely) and carries optimizer state and a ``meta`` with the
    epoch and iteration (``best_*`` files do not: mmengine saves them
    without optimizer and scheduler state)."""
    from .safe_loading import safe_load
    try:
        ckpt = safe_load(path, map_location='cpu')
    except Exception:
        return False
    return isinstance(ckpt, dict) and 'optimizer' in ckpt and isinstance(
        ckpt.get('meta'), dict) and 'epoch' in ckpt['meta'] and \
        'iter' in ckpt['meta']


def numbered_checkpoints(path: str) -> List[str]:
    """``epoch_N.pth`` / ``iter_N.pth`` files of ``path`` (names matched
    whole: never ``best_*_epoch_N.pth`` or ``*.partial``), newest first."""
    candidates = []
    for name in glob.glob(osp.join(glob.escape(path), '*.pth')):
        match = _NUMBERED.fullmatch(osp.basename(name))
        if match:
            candidates.append((match.group(1) == 'iter',
                               int(match.group(2)), name))
    return [name for *_, name in sorted(candidates, reverse=True)]


def robust_find_latest(path: str) -> Optional[str]:
    """The checkpoint to resume from in work dir ``path``, or None.

    ``last_checkpoint`` if it names an existing file; otherwise (also when
    it cannot be read: not text in the locale's encoding, a folder, no
    permission; with a warning) the newest ``epoch_*.pth`` /
    ``iter_*.pth`` that is complete and carries optimizer state
    (:func:`is_resumable`). Weights-only ``best_*`` files are never
    candidates: resuming from them would reset the optimizer's momentum and
    move the learning-rate schedule.
    """
    try:
        found = _original('find_latest_checkpoint')(path)
    except (ValueError, OSError) as err:  # UnicodeDecodeError included
        from mmengine.logging import print_log
        print_log(f'{osp.join(path, "last_checkpoint")} cannot be read '
                  f'({type(err).__name__}: {err}); looking for the newest '
                  'complete checkpoint instead.', logger='current',
                  level=logging.WARNING)
        found = None
    if found and osp.isfile(found):
        return found
    for name in numbered_checkpoints(path):
        if is_resumable(name):
            return name
    return None


def _write_text_atomic(path: str, text: str) -> None:
    """``text`` to ``path`` all or nothing, in the encoding ``open(path,
    'w')`` uses (mmengine reads ``last_checkpoint`` that way)."""
    from ..utils.atomic import atomic_write
    data = text.encode(locale.getpreferredencoding(False))
    atomic_write(path, lambda f: f.write(data))


def _remove(hook: Any, path: str) -> None:
    backend = hook.file_backend
    if backend.isfile(path):
        backend.remove(path)
    elif backend.isdir(path):  # deepspeed checkpoints are folders
        backend.rmtree(path)


def save_checkpoint_with_step(self: Any, runner: Any, step: int,
                              meta: dict) -> None:
    """``CheckpointHook._save_checkpoint_with_step`` with the rotation in
    a safe order: write the new checkpoint (atomically), then point
    ``last_checkpoint`` at it (atomically), and only then delete the
    checkpoint that falls out of ``max_keep_ckpts``. mmengine deletes
    first, so a kill in between leaves no checkpoint at all."""
    from mmengine.dist import is_main_process
    dropped = None
    if self.max_keep_ckpts > 0 and not (
            self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
        if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
            dropped = self.keep_ckpt_ids.popleft()
        self.keep_ckpt_ids.append(step)
        runner.message_hub.update_info('keep_ckpt_ids',
                                       list(self.keep_ckpt_ids))
    ckpt_filename = self.filename_tmpl.format(step)
    self.last_ckpt = self.file_backend.join_path(self.out_dir, ckpt_filename)
    runner.message_hub.update_info('last_ckpt', self.last_ckpt)
    runner.save_checkpoint(
        self.out_dir,
        ckpt_filename,
        self.file_client_args,
        save_optimizer=self.save_optimizer,
        save_param_scheduler=self.save_param_scheduler,
        meta=meta,
        by_epoch=self.by_epoch,
        backend_args=self.backend_args,
        **self.args)
    if not is_main_process():
        return
    _write_text_atomic(osp.join(runner.work_dir, 'last_checkpoint'),
                       self.last_ckpt)
    if dropped is not None and dropped != step:
        _remove(self, self.file_backend.join_path(
            self.out_dir, self.filename_tmpl.format(dropped)))


class _DeferredRemoval:
    """Within the block, ``hook.file_backend.remove``/``rmtree`` only
    record the path; on a normal exit the recorded paths are deleted,
    except those written again meanwhile. On an error nothing is
    deleted: the previous checkpoint stays."""

    def __init__(self, hook: Any) -> None:
        self.hook = hook
        self.pending: List[Tuple[str, Callable]] = []

    def __enter__(self) -> '_DeferredRemoval':
        backend = self.hook.file_backend
        for name in ('remove', 'rmtree'):
            real = getattr(backend, name)
            setattr(backend, name,
                    lambda p, _r=real: self.pending.append((p, _r)))
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        backend = self.hook.file_backend
        for name in ('remove', 'rmtree'):
            if name in vars(backend):
                delattr(backend, name)
        if exc_type is not None:
            return
        written = {self.hook.last_ckpt,
                   getattr(self.hook, 'best_ckpt_path', None),
                   *getattr(self.hook, 'best_ckpt_path_dict', {}).values()}
        for path, remove in self.pending:
            if path not in written:
                remove(path)


def save_best_checkpoint(self: Any, runner: Any, metrics: dict) -> None:
    """``CheckpointHook._save_best_checkpoint`` that deletes the previous
    ``best_*.pth`` only after the new one is complete."""
    with _DeferredRemoval(self):
        _original('_save_best_checkpoint')(self, runner, metrics)


def needed() -> Optional[str]:
    """Feature test, on a temporary folder: does mmengine's
    ``save_checkpoint`` overwrite a checkpoint in place (a kill mid-write
    truncates it), and does its ``find_latest_checkpoint`` give up on an
    empty ``last_checkpoint``?"""
    import os
    import tempfile

    from mmengine.logging import MMLogger
    reasons = []
    # mmengine logs deprecation warnings about its file backends on the
    # first save; the probe must not print them at `import dckd_mm`
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        reasons = _probe(tempfile, os)
    finally:
        logger.setLevel(level)
    return '; '.join(reasons) or None


def _probe(tempfile: Any, os: Any) -> List[str]:
    """The two probes of :func:`needed`, in a temporary folder."""
    reasons = []
    with tempfile.TemporaryDirectory() as tmp:
        path = osp.join(tmp, 'epoch_1.pth')
        save = _original('save_checkpoint')
        save({'probe': 1}, path)
        first = os.stat(path).st_ino
        save({'probe': 2}, path)
        if os.stat(path).st_ino == first:
            reasons.append(
                "mmengine's save_checkpoint rewrites the file in place: a "
                'kill during the write leaves a truncated checkpoint')
        with open(osp.join(tmp, 'last_checkpoint'), 'w'):
            pass
        if not _original('find_latest_checkpoint')(tmp):
            reasons.append(
                "mmengine's find_latest_checkpoint finds nothing when "
                'last_checkpoint is empty, although a complete checkpoint '
                'is there')
    return reasons


def install() -> None:
    """Patch mmengine's module-level references (idempotent)."""
    import mmengine.runner as runner_pkg
    import mmengine.runner.checkpoint as ckpt
    import mmengine.runner.runner as runner_mod
    from mmengine.hooks import CheckpointHook
    _PATCHES.set(CheckpointHook, '_save_checkpoint_with_step',
                 save_checkpoint_with_step)
    _PATCHES.set(CheckpointHook, '_save_best_checkpoint',
                 save_best_checkpoint)
    for module in (ckpt, runner_mod, runner_pkg):
        _PATCHES.set(module, 'save_checkpoint', atomic_save_checkpoint)
    for module in (ckpt, runner_mod):
        _PATCHES.set(module, 'find_latest_checkpoint', robust_find_latest)


def uninstall() -> None:
    """Restore mmengine's originals."""
    _PATCHES.restore()


FIX = Fix(
    name='atomic_checkpoints',
    summary='checkpoints and last_checkpoint are written all-or-nothing, '
    'rotation deletes last, resume falls back to the newest complete one',
    needed=needed,
    install=install,
    uninstall=uninstall)
