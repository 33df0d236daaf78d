# Copyright (c) dckd_mm contributors. All rights reserved.
"""Where a benchmark run's own output goes: its folder, not the terminal."""
import contextlib
import logging
import os
import os.path as osp
import sys
from typing import Iterator, TextIO

__all__ = ['run_output', 'native_output_to']


@contextlib.contextmanager
def run_output(work_dir: str) -> Iterator[None]:
    """Send everything a run prints (mmengine's config dump and log
    lines, warnings) to ``work_dir/console.log`` instead of the terminal.

    mmengine's logger keeps the stream it was created with, so its handler
    is detached from the file after the run. If the run fails, one line on
    stderr names the log.
    """
    os.makedirs(work_dir, exist_ok=True)
    path = osp.join(work_dir, 'console.log')
    with open(path, 'a') as log:
        try:
            with contextlib.redirect_stdout(log), \
                    contextlib.redirect_stderr(log):
                yield
        except BaseException:
            print(f'[dckd_mm] run failed; its output is in {path}',
                  file=sys.stderr)
            raise
        finally:
            for logger in [logging.getLogger()] + [
                    lg for lg in logging.Logger.manager.loggerDict.values()
                    if isinstance(lg, logging.Logger)]:
                for h in list(logger.handlers):
                    if getattr(h, 'stream', None) is log:
                        logger.removeHandler(h)


@contextlib.contextmanager
def native_output_to(stream: TextIO) -> Iterator[None]:
    """Point file descriptors 1 and 2 at ``stream``'s file while the block
    runs: the profiler's C++ side prints there, past ``sys.stdout``.

    A stream without a file descriptor (captured output) leaves the
    descriptors alone.
    """
    try:
        target = stream.fileno()
    except (AttributeError, OSError, ValueError):
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        os.dup2(target, 1)
        os.dup2(target, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)
