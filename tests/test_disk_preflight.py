# Copyright (c) dckd_mm contributors. All rights reserved.
"""The suite stops before its first test when the disk under pytest's
temporary folder is nearly full, instead of failing hundreds of tests with
"No space left on device" (what a full disk did to CI once)."""
import shutil
from collections import namedtuple
from types import SimpleNamespace

import pytest

from tests import conftest

Usage = namedtuple('Usage', 'total used free')


def fake_session(basetemp):
    return SimpleNamespace(config=SimpleNamespace(
        option=SimpleNamespace(basetemp=basetemp)))


def test_nearly_full_disk_stops_the_suite(tmp_path, monkeypatch):
    seen = []

    def usage(path):
        seen.append(path)
        return Usage(100 * 2**30, 99 * 2**30, 2**30)

    monkeypatch.setattr(shutil, 'disk_usage', usage)
    # a --basetemp that does not exist yet is measured at its nearest parent
    with pytest.raises(pytest.exit.Exception) as info:
        conftest.pytest_sessionstart(fake_session(str(tmp_path / 'a' / 'b')))
    assert seen == [str(tmp_path)]
    assert info.value.returncode == 4
    message = str(info.value)
    assert f'only 1.0 GB free under {tmp_path}' in message
    assert '--basetemp' in message and 'TMPDIR' in message


def test_enough_disk_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(
        shutil, 'disk_usage',
        lambda path: Usage(100 * 2**30, 90 * 2**30,
                           int(conftest.NEED_GB * 2**30)))
    assert conftest.pytest_sessionstart(fake_session(str(tmp_path))) is None
