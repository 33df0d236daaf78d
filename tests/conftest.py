# Copyright (c) dckd_mm contributors. All rights reserved.
import os
import os.path as osp
import shutil
import tempfile

import pytest
import torch

# Tests are small: keep them on 2 threads and deterministic.
torch.set_num_threads(min(2, os.cpu_count() or 1))


# mmengine runs yapf over every config it logs, dumps or stores in a
# checkpoint's meta: about 3 s per call for mmdet's configs, a quarter of a
# detection test. The text is the same Python without the reformatting, so
# tests skip it (subprocesses the tests start still format).
import mmengine.config.config as _mmengine_config  # noqa: E402

_mmengine_config.FormatCode = lambda text, **kwargs: (text, False)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


# The detection tests save checkpoints of real-size detectors. With a
# passed test's tmp_path deleted at once (setup.cfg), the suite peaked at
# 1.0 GB under pytest's temporary folder (it had been 11 GB, plus the last
# two sessions' folders). Ask for 3 GB: with too little, the tests after the
# disk fills fail by the hundred with "No space left on device"; stop
# before the first one instead.
NEED_GB = 3.0


def pytest_sessionstart(session: pytest.Session) -> None:
    where = session.config.option.basetemp or os.environ.get(
        'PYTEST_DEBUG_TEMPROOT') or tempfile.gettempdir()
    where = osp.abspath(where)
    while not osp.isdir(where):
        where = osp.dirname(where)
    free = shutil.disk_usage(where).free / 2**30
    if free < NEED_GB:
        pytest.exit(
            f'only {free:.1f} GB free under {where}; the test suite needs '
            f'about {NEED_GB:.0f} GB there for its temporary checkpoints. '
            'Free some space, or point the tests elsewhere with TMPDIR=<dir> '
            'or `pytest --basetemp=<dir>`.', returncode=4)
