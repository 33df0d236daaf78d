# Copyright (c) dckd_mm contributors. All rights reserved.
"""Real write failures for the tests: a child process under a file-size
limit (its writes fail inside torch's zip writer as on a full disk), and
small or read-only tmpfs mounts where this machine lets the tests mount.
"""
import contextlib
import os
import os.path as osp
import resource
import signal
import subprocess
import sys
from typing import Iterator, Sequence

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _limit_file_size(limit: int):

    def preexec() -> None:
        # without SIG_IGN the kernel kills the writer; ignored, write()
        # fails with EFBIG as it fails with ENOSPC on a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return preexec


def run_limited(args: Sequence[str], limit: int,
                timeout: int = 300) -> subprocess.CompletedProcess:
    """Run ``python ARGS`` from the repository root (this checkout first
    on the path) with every file it writes limited to ``limit`` bytes."""
    env = dict(os.environ, OMP_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join(
                   [ROOT] + [p for p in [os.environ.get('PYTHONPATH')] if p]))
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout,
                          preexec_fn=_limit_file_size(limit))


@contextlib.contextmanager
def tmpfs(path: str, size: str = '1m') -> Iterator[str]:
    """Mount a tmpfs of ``size`` on the new folder ``path`` (skip the test
    where mounting is not allowed); unmounted afterwards."""
    os.makedirs(path, exist_ok=True)
    proc = subprocess.run(['mount', '-t', 'tmpfs', '-o', f'size={size}',
                           'tmpfs', path], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f'cannot mount a tmpfs here: {proc.stderr.strip()}')
    try:
        yield path
    finally:
        subprocess.run(['umount', '-l', path], capture_output=True)


def make_read_only(path: str) -> None:
    """Remount the tmpfs at ``path`` read-only: nobody, root included,
    can create or rename a file in it."""
    subprocess.run(['mount', '-o', 'remount,ro', path], check=True,
                   capture_output=True)
