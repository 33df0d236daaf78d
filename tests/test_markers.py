# Copyright (c) dckd_mm contributors. All rights reserved.
"""The e2e layer's module list names real test modules."""
import os.path as osp

from tests.conftest import E2E_MODULES

TESTS = osp.dirname(osp.abspath(__file__))


def test_every_e2e_module_exists():
    missing = sorted(m for m in E2E_MODULES
                     if not osp.isfile(osp.join(TESTS, m)))
    assert not missing, missing
    assert len(E2E_MODULES) >= 30
