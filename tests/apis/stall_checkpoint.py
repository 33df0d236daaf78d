# Copyright (c) dckd_mm contributors. All rights reserved.
"""Imported by the generated configs of tests/apis/test_launchers.py
(``custom_imports``): on rank 0, the write of one checkpoint stalls half
way, so that a test can stop the run while the file is being written.

``DCKD_TEST_STALL``: the checkpoint's file name (``epoch_2.pth``): the
first write into ``epoch_2.pth.partial`` (dckd_mm's atomic writer) writes
half of its data, creates the file named by ``DCKD_TEST_STALL_MARKER``
and waits (up to ``DCKD_TEST_STALL_SECONDS``, 300 by default) before
writing the rest."""
import builtins
import os
import time

_NAME = os.environ.get('DCKD_TEST_STALL')


class _StallingWriter:

    def __init__(self, f) -> None:
        self.f = f
        self.stalled = False

    def write(self, data) -> int:
        if self.stalled:
            return self.f.write(data)
        self.stalled = True
        half = len(data) // 2
        self.f.write(data[:half])
        self.f.flush()
        with open(os.environ['DCKD_TEST_STALL_MARKER'], 'w') as marker:
            marker.write(str(os.getpid()))
        end = time.monotonic() + float(
            os.environ.get('DCKD_TEST_STALL_SECONDS', '300'))
        while time.monotonic() < end:
            time.sleep(0.05)
        return half + self.f.write(data[half:])

    def __enter__(self) -> '_StallingWriter':
        return self

    def __exit__(self, *exc) -> None:
        self.f.close()

    def __getattr__(self, attr: str):
        return getattr(self.f, attr)


def _install(name: str) -> None:
    real_open = builtins.open

    def stalling_open(file, mode='r', *args, **kwargs):
        f = real_open(file, mode, *args, **kwargs)
        if 'w' in mode and os.path.basename(str(file)) == name + '.partial':
            return _StallingWriter(f)
        return f

    builtins.open = stalling_open


if _NAME and os.environ.get('RANK', '0') == '0':
    _install(_NAME)
