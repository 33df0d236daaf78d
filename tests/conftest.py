# Copyright (c) dckd_mm contributors. All rights reserved.
import os
import os.path as osp
import sys

import pytest
import torch

# Tests are small: keep them on 2 threads and deterministic.
torch.set_num_threads(min(2, os.cpu_count() or 1))

# The analysis tools' experiment code (tools/analysis_tools/lib) is not part
# of the package; tests import it as the tools do, as ``lib.<module>``.
ANALYSIS_TOOLS = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))),
                          'tools', 'analysis_tools')
if ANALYSIS_TOOLS not in sys.path:
    sys.path.insert(0, ANALYSIS_TOOLS)


# mmengine runs yapf over every config it logs, dumps or stores in a
# checkpoint's meta: about 3 s per call for mmdet's configs, a quarter of a
# detection test. The text is the same Python without the reformatting, so
# tests skip it (subprocesses the tests start still format).
import mmengine.config.config as _mmengine_config  # noqa: E402

_mmengine_config.FormatCode = lambda text, **kwargs: (text, False)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
