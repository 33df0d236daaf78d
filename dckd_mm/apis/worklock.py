# Copyright (c) dckd_mm contributors. All rights reserved.
"""One run per work dir: a lock that a run holds for its whole lifetime.

Two runs into one work dir would overwrite each other's checkpoints,
``last_checkpoint`` and config dump, and two started in the same second
would write into one log folder. :func:`hold_work_dir` takes an exclusive
``fcntl.flock`` on ``<work_dir>/.dckd_mm.lock`` before anything is
written there, and keeps it until the run ends:

- a second run into the same work dir is refused at once
  (:class:`~dckd_mm.errors.OutputPathError`, naming the work dir and the
  pid, host, start time and command of the run holding it), before it
  writes anything;
- the kernel releases a ``flock`` when the process holding it dies, so a
  lock file left by a killed run (``SIGKILL``, a crash, a lost node) is
  taken over with a warning naming the old pid (dataloader workers forked
  by the run share the lock until they exit, which they do within seconds
  of their parent);
- on a normal end the lock file is removed while still locked (a run that
  opened it meanwhile sees it replaced and tries again).

Distributed runs: only global rank 0 takes the lock; the other ranks
neither lock nor create nor remove the work dir (see :func:`global_rank`).
If rank 0 is refused it exits before the process group exists; the other
ranks then wait in the rendezvous, where they write nothing, until the
launcher ends them (torchrun stops every worker when one fails, and
``tools/slurm_train.sh`` runs srun with ``--kill-on-bad-exit=1``).

A filesystem without ``flock`` support (some network or FUSE mounts) gets
a warning and an unlocked run, not a refused one.
"""
import contextlib
import errno
import fcntl
import json
import os
import os.path as osp
import shlex
import shutil
import socket
import sys
import time
from typing import Iterator, Optional

from ..errors import OutputPathError

__all__ = ['LOCK_NAME', 'WorkDirLock', 'hold_work_dir', 'global_rank']

LOCK_NAME = '.dckd_mm.lock'

# the environment variable holding the global rank, per launcher, before
# mmengine initialises the process group (mmengine's own init_dist reads
# these too)
_RANK_VARS = {
    'pytorch': ('RANK', ),
    'slurm': ('SLURM_PROCID', 'RANK'),
    'mpi': ('OMPI_COMM_WORLD_RANK', 'RANK'),
}

# errnos of a flock the filesystem does not support
_NO_LOCKS = {errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL}


def global_rank(launcher: str = 'none') -> int:
    """This process's global rank for ``launcher``.

    ``'none'`` is a single-process run: rank 0, whatever the environment
    says (processes started side by side without a launcher are separate
    runs, and each must hold the work dir). Otherwise the process group's
    rank when it exists, else the launcher's environment variable
    (``RANK`` for ``pytorch``, ``SLURM_PROCID`` for ``slurm``,
    ``OMPI_COMM_WORLD_RANK`` for ``mpi``); 0 when none is set.

    Args:
        launcher (str): the run's ``--launcher``.

    Returns:
        int: the global rank.
    """
    if launcher == 'none':
        return 0
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    for name in _RANK_VARS.get(launcher, ('RANK', )):
        value = os.environ.get(name, '').strip()
        if value.lstrip('-').isdigit():
            return int(value)
    return 0


def _warn(text: str) -> None:
    print(f'warning: {text}', file=sys.stderr, flush=True)


class WorkDirLock:
    """The lock of one work dir (use :func:`hold_work_dir`).

    Args:
        work_dir (str): the run's work dir.
        take (bool): take the lock (global rank 0); False for the other
            ranks of a distributed run, which then neither create nor
            lock anything.
        command (str, optional): the command recorded in the lock file.
            Defaults to this process's ``sys.argv``.

    Attributes:
        path (str): ``<work_dir>/.dckd_mm.lock``.
        created (bool): whether this lock made the work dir (it did not
            exist); only such a work dir may be removed after a run that
            never started.
        held (bool): whether the lock is held now.
    """

    def __init__(self, work_dir: str, take: bool = True,
                 command: Optional[str] = None) -> None:
        self.work_dir = osp.abspath(osp.expanduser(work_dir))
        self.path = osp.join(self.work_dir, LOCK_NAME)
        self.take = take
        self.command = command if command is not None else ' '.join(
            shlex.quote(a) for a in [osp.basename(sys.executable)] +
            sys.argv)
        self.created = False
        self.held = False
        self._fd: Optional[int] = None
        self._made: list = []  # folders this lock created, deepest first

    # -- acquire ---------------------------------------------------------
    def acquire(self) -> 'WorkDirLock':
        """Create the work dir if needed and take its lock.

        Raises:
            OutputPathError: the work dir is in use by another run, is a
                file, or cannot be written.
        """
        if not self.take:
            return self
        self._make_dir()
        try:
            self._lock()
        except BaseException:
            self.release()  # removes the lock file only if we hold it
            if self.created:
                # leave no work dir behind; rmdir removes only an empty
                # one, never another run's lock file in it
                with contextlib.suppress(OSError):
                    os.rmdir(self.work_dir)
                self.created = False
            self._remove_made()
            raise
        return self

    def remove_work_dir(self) -> None:
        """Remove the work dir with everything in it, and the empty
        folders above it that this lock created; only when this lock
        created it (``created``), for a run that never started."""
        if not self.created:
            return
        shutil.rmtree(self.work_dir, ignore_errors=True)
        self._remove_made()

    def _remove_made(self) -> None:
        for folder in self._made:
            try:
                os.rmdir(folder)  # only while empty
            except OSError:
                break
        self._made = []

    def _make_dir(self) -> None:
        missing = []
        folder = osp.dirname(self.work_dir)
        while not osp.exists(folder):
            missing.append(folder)
            folder = osp.dirname(folder)
        try:
            for folder in reversed(missing):
                with contextlib.suppress(FileExistsError):
                    os.mkdir(folder)
                    self._made.insert(0, folder)
            os.mkdir(self.work_dir)
            self.created = True
        except FileExistsError:
            if not osp.isdir(self.work_dir):
                raise OutputPathError(
                    f'work dir {self.work_dir} is a file, not a folder: '
                    'pass another --work-dir (or move the file away). '
                    'Nothing was written.') from None
        except OSError as err:
            raise OutputPathError(
                f'work dir {self.work_dir} cannot be created '
                f'({err.strerror or err}): choose a writable folder with '
                '--work-dir. Nothing was written.') from None

    def _lock(self) -> None:
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as err:
                raise OutputPathError(
                    f'work dir {self.work_dir} is not writable '
                    f'({err.strerror or err}): choose another folder with '
                    '--work-dir or change its permissions. Nothing was '
                    'written.') from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = self._read_holder(fd, wait=True)
                os.close(fd)
                raise OutputPathError(self._busy_message(holder)) from None
            except OSError as err:
                os.close(fd)
                if err.errno not in _NO_LOCKS:
                    raise
                _warn(f'the filesystem of {self.work_dir} does not support '
                      f'file locks ({err.strerror}): this run goes on '
                      'unlocked, and a second run into the same work dir '
                      'would not be stopped.')
                return
            if self._same_file(fd):
                break
            # the previous holder removed the file between our open and
            # our lock: lock the file that is there now
            os.close(fd)
        self._fd = fd
        self.held = True
        old = self._read_holder(fd)
        if old is not None and old.get('pid') != os.getpid():
            _warn(f'work dir {self.work_dir}: taking over the lock left by '
                  f'pid {old.get("pid")} on host {old.get("host")} (started '
                  f'{old.get("started")}), which no longer runs: that run '
                  'was killed or crashed. Its checkpoints are kept; pass '
                  '--resume to continue it.')
        record = json.dumps(
            dict(pid=os.getpid(), host=socket.gethostname(),
                 started=time.strftime('%Y-%m-%d %H:%M:%S %z'),
                 command=self.command)).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, record + b'\n', 0)

    def _same_file(self, fd: int) -> bool:
        try:
            path_stat = os.stat(self.path)
        except FileNotFoundError:
            return False
        fd_stat = os.fstat(fd)
        return (path_stat.st_ino, path_stat.st_dev) == (fd_stat.st_ino,
                                                        fd_stat.st_dev)

    @staticmethod
    def _read_holder(fd: int, wait: bool = False) -> Optional[dict]:
        """The record in the lock file, None when it is empty or not one.
        With ``wait``, give a holder that has just taken the lock up to a
        second to write it."""
        deadline = time.monotonic() + (1.0 if wait else 0.0)
        while True:
            data = os.pread(fd, 65536, 0)
            try:
                record = json.loads(data.decode('utf-8', 'replace'))
                if isinstance(record, dict):
                    return record
            except ValueError:
                pass
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.05)

    def _busy_message(self, holder: Optional[dict]) -> str:
        if holder is None:
            who = 'another run (it has not recorded its pid yet)'
        else:
            who = (f'pid {holder.get("pid")} on host {holder.get("host")}, '
                   f'started {holder.get("started")}: '
                   f'{holder.get("command")}')
        return (f'work dir {self.work_dir} is in use by {who}. Two runs in '
                'one work dir overwrite each other\'s checkpoints, config '
                'and logs. Wait for that run to end (or stop it), or pass '
                'another --work-dir. Nothing was written.')

    # -- release ---------------------------------------------------------
    def release(self) -> None:
        """Remove the lock file (still locked) and release the lock; a
        no-op when it is not held."""
        if self._fd is None:
            return
        try:
            if self._same_file(self._fd):
                os.unlink(self.path)
        except OSError:
            pass
        finally:
            os.close(self._fd)
            self._fd = None
            self.held = False


@contextlib.contextmanager
def hold_work_dir(work_dir: str, launcher: str = 'none',
                  command: Optional[str] = None) -> Iterator[WorkDirLock]:
    """Hold ``work_dir`` for the body: create it if needed and lock it on
    global rank 0 (:func:`global_rank`); the other ranks of a distributed
    run get a lock that holds nothing (``created`` and ``held`` False).

    Args:
        work_dir (str): the run's work dir.
        launcher (str): the run's ``--launcher``.
        command (str, optional): recorded in the lock file; defaults to
            ``sys.argv``.

    Yields:
        WorkDirLock: the lock (``created`` says whether it made the work
        dir).

    Raises:
        OutputPathError: another run holds the work dir, or it is a file or
            cannot be written (nothing written).
    """
    lock = WorkDirLock(work_dir, take=global_rank(launcher) == 0,
                       command=command)
    lock.acquire()
    try:
        yield lock
    finally:
        lock.release()
