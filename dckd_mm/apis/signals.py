# Copyright (c) dckd_mm contributors. All rights reserved.
"""SIGTERM ends a tool the way an error does: unwinding, so that a
checkpoint being written is discarded whole.

Python's default for SIGTERM kills the process where it stands: a
checkpoint half written stays behind as ``<name>.partial`` (the final name
never holds a partial file, see :mod:`dckd_mm.compat.atomic_checkpoints`).
``torchrun`` and ``srun`` stop a job by sending SIGTERM to every rank, so
that is how a distributed run usually ends when it is stopped.

With :func:`exit_on_sigterm`, SIGTERM raises ``SystemExit(128 + 15)`` in
the main thread instead: the writer's clean-up runs (the ``.partial`` is
removed, the previous checkpoint and ``last_checkpoint`` are left as they
were) and the process exits with status 143, the shell's "terminated by
SIGTERM". SIGINT keeps Python's own ``KeyboardInterrupt``, which unwinds
the same way. A second SIGTERM during the unwinding kills at once.
"""
import os
import signal
from types import FrameType
from typing import Optional

__all__ = ['exit_on_sigterm']


def _exit(signum: int, frame: Optional[FrameType]) -> None:
    """Raise ``SystemExit(128 + signum)``; the next such signal kills."""
    signal.signal(signum, signal.SIG_DFL)
    # os.write: print() could re-enter a stream the main thread is writing
    os.write(2, f'stopped by {signal.Signals(signum).name} (pid '
             f'{os.getpid()})\n'.encode())
    raise SystemExit(128 + signum)


def exit_on_sigterm() -> None:
    """From now on, SIGTERM raises ``SystemExit(143)`` in the main thread
    (see the module's docstring). Call it once, from a tool's main thread,
    before the run starts (from another thread it does nothing: only the
    main thread may set a handler)."""
    import threading
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _exit)
