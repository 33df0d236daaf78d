# Copyright (c) dckd_mm contributors. All rights reserved.
"""tools/demo.py (`make demo`): several seeds by default, and no verdict
from a single seed."""
import json
import os.path as osp

import pytest

from dckd_mm.benchmark import NO_VERDICT
from tests.helpers import run_tool

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO = osp.join(ROOT, 'tools', 'demo.py')


@pytest.fixture(autouse=True)
def _root(monkeypatch):
    monkeypatch.chdir(ROOT)


def test_default_is_several_seeds():
    import runpy
    demo = runpy.run_path(DEMO)  # not as __main__: nothing runs
    assert demo['SEEDS'] >= 3


def test_bad_arguments_exit_2(tmp_path):
    for args in (['--seeds', '0'], ['--epochs', '0']):
        res = run_tool(DEMO, '--work-dir', str(tmp_path), *args)
        assert res.returncode == 2 and 'must be at least 1' in res.stderr


def test_one_seed_prints_no_verdict(tmp_path):
    """Teacher and five students, one epoch each, one seed."""
    work = tmp_path / 'demo'
    res = run_tool(DEMO, '--work-dir', str(work), '--seeds', '1',
                   '--epochs', '1')
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].startswith('[1/6] teacher (resnet20_1xb64_digits.py)')
    assert lines[5].startswith('[6/6] SimKD + DCKD (seed 0)  top-1 ')
    claim = [line for line in lines if line.startswith('| target: ')]
    assert len(claim) == 1
    assert claim[0].endswith(f'| {NO_VERDICT} |')
    assert '(1 seed, no s.e.)' in claim[0]
    assert '+- 0.00' not in res.stdout and 'One seed: ' in res.stdout
    result = json.loads((work / 'results.json').read_text())
    assert result['seeds'] == [0]
    assert [r['id'] for r in result['methods']] == [
        'alone', 'kd', 'dkd', 'simkd', 'simkd_dckd']
    assert all(r['top1_std'] is None for r in result['methods'])
    assert NO_VERDICT in (work / 'results.md').read_text()
