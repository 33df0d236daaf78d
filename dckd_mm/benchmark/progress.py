# Copyright (c) dckd_mm contributors. All rights reserved.
"""Progress of a comparison on the terminal: one line per run."""
import sys
import time
from typing import Any, Optional, TextIO

from mmengine.hooks import Hook

__all__ = ['Progress', 'EpochProgressHook']


class Progress:
    """One line per run on the terminal: ``[i/n] label  summary  ETA``.

    On a terminal the line is redrawn after each epoch; elsewhere (logs,
    CI) one line is printed when a run ends.

    Args:
        total (int): the number of runs.
        stream (TextIO, optional): where the lines go (default: stdout).
    """

    def __init__(self, total: int, stream: Optional[TextIO] = None) -> None:
        self.total, self.done = total, 0
        self.stream = stream or sys.stdout
        self.tty = bool(getattr(self.stream, 'isatty', lambda: False)())
        self.start = time.perf_counter()
        self.label, self.run_start = '', self.start

    def _eta(self, frac: float) -> str:
        """Time left: the mean time per run so far (the current run
        extrapolated from ``frac``, its finished fraction) times the runs
        left."""
        now = time.perf_counter()
        runs = self.done + frac
        if runs <= 0:
            return '?'
        left = (now - self.start) / runs * (self.total - runs)
        return f'{int(left // 60)}m{int(left % 60):02d}s'

    def begin(self, label: str) -> None:
        """Start the run called ``label``."""
        self.label, self.run_start = label, time.perf_counter()

    def epoch(self, epoch: int, max_epochs: int) -> None:
        """Redraw the line after ``epoch`` of ``max_epochs`` (terminal
        only)."""
        if self.tty:
            self.stream.write(
                f'\r[{self.done + 1}/{self.total}] {self.label}  epoch '
                f'{epoch}/{max_epochs}  ETA {self._eta(epoch / max_epochs)}'
                '\x1b[K')
            self.stream.flush()

    def end(self, summary: str) -> None:
        """End the current run with its one-line ``summary``."""
        self.done += 1
        took = time.perf_counter() - self.run_start
        self.run_start = time.perf_counter()
        head, tail = ('\r', '\x1b[K') if self.tty else ('', '')
        eta = self._eta(0.0) if self.done < self.total else '0m00s'
        self.stream.write(f'{head}[{self.done}/{self.total}] {self.label}  '
                          f'{summary}  {took:.0f} s  ETA {eta}{tail}\n')
        self.stream.flush()


class EpochProgressHook(Hook):
    """Reports each finished training epoch to a :class:`Progress`."""

    priority = 'LOWEST'

    def __init__(self, progress: Progress) -> None:
        self.progress = progress

    def after_train_epoch(self, runner: Any) -> None:
        self.progress.epoch(runner.epoch, runner.max_epochs)
