# Copyright (c) dckd_mm contributors. All rights reserved.
"""Detection registers only where mmdet and mmcv's compiled ops import;
without either, ``import dckd_mm`` and classification still work and
:func:`detection_unavailable` names what is missing (issue 20)."""
import json
import os
import subprocess
import sys

import pytest

import dckd_mm  # noqa: F401
from tests.fixtures.coco import ROOT

# Run in a fresh interpreter: a meta-path finder, installed before
# dckd_mm is imported, makes the blocked packages (and their submodules)
# raise ImportError, as on a host that lacks them.
CHILD = r'''
import json
import sys

blocked = tuple(sys.argv[1].split(','))


class Unimportable:

    def find_spec(self, name, path=None, target=None):
        if name in blocked or name.startswith(tuple(b + '.' for b in blocked)):
            raise ImportError(f'No module named {name!r} (blocked)')
        return None


sys.meta_path.insert(0, Unimportable())
import torch

import dckd_mm
import dckd_mm.models.algorithms as algorithms
from dckd_mm.models.builder import build_model
from dckd_mm.models.detection import detection_unavailable
from dckd_mm.models.zoo import cifar_classifier_cfg
from mmrazor.registry import MODELS

model = build_model(cifar_classifier_cfg('resnet8')).eval()
with torch.no_grad():
    logits = model(torch.zeros(1, 3, 32, 32), mode='tensor')
print(json.dumps(dict(
    registered=sorted(n for n in ('RoIDCKDDistill', 'SimKDDistill')
                      if n in MODELS.module_dict),
    exported=algorithms.__all__,
    message=detection_unavailable(),
    logits=list(logits.shape))))
'''


def _without(blocked: str) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join(
                   [ROOT] + [p for p in [os.environ.get('PYTHONPATH')] if p]))
    res = subprocess.run([sys.executable, '-c', CHILD, blocked], cwd=ROOT,
                         env=env, capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.mark.detection
def test_available_here_and_registered():
    from mmrazor.registry import MODELS

    import dckd_mm.models.algorithms as algorithms
    from dckd_mm.models.detection import detection_unavailable
    assert detection_unavailable() is None
    assert 'RoIDCKDDistill' in MODELS.module_dict
    assert 'RoIDCKDDistill' in algorithms.__all__


@pytest.mark.parametrize('blocked,names', [
    # the mmcv.ops message needs mmdet present (it is checked first)
    pytest.param('mmcv.ops', ["mmcv's compiled ops", 'mmcv 2.1.0',
                              '`make test`', 'docs/platform.md'],
                 marks=pytest.mark.detection),
    ('mmdet', ['mmdet is not importable', 'pip install mmdet==3.3.0']),
])
def test_without_mmdet_or_mmcv_ops_classification_still_runs(blocked, names):
    got = _without(blocked)
    assert got['registered'] == ['SimKDDistill']
    assert got['exported'] == ['SimKDDistill']
    assert got['logits'] == [1, 100]
    for name in names:
        assert name in got['message'], got['message']
    assert 'blocked' in got['message']  # the import error itself is named
