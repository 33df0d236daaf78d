# Copyright (c) dckd_mm contributors. All rights reserved.
"""tools/analysis_tools/device_check.py --cpu runs with mmengine, mmcv,
mmpretrain, mmrazor and mmdet made unimportable, from the repository as it
is (another working directory, no PYTHONPATH): the check a bare GPU machine
gets needs none of them. Its kernel checks pass through Triton's
interpreter; what needs CUDA is skipped with a reason."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SCRIPT = osp.join(ROOT, 'tools', 'analysis_tools', 'device_check.py')
BLOCKED = ('mmengine', 'mmcv', 'mmpretrain', 'mmrazor', 'mmdet')
pytest.importorskip('triton')
from tests.helpers import triton_interpreter_unavailable  # noqa: E402

pytestmark = pytest.mark.skipif(
    triton_interpreter_unavailable() is not None,
    reason=str(triton_interpreter_unavailable()))

# Runs the script in a process whose import system refuses the OpenMMLab
# packages (a meta-path finder placed first raises ImportError for them)
# and, at exit, reports every refused name and where the loss code came
# from.
WRAPPER = '''
import atexit, json, runpy, sys
BLOCKED = {blocked!r}
refused = []

class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in BLOCKED:
            refused.append(name)
            raise ImportError(name + ' is made unimportable by the test')
        return None

def report():
    mod = sys.modules.get('dckd_mm.models.losses.dckd')
    loaded = sorted(m for m in sys.modules if m.split('.')[0] in BLOCKED)
    print('CHILD ' + json.dumps(dict(
        refused=refused, loaded=loaded,
        dckd_file=getattr(mod, '__file__', None))), file=sys.stderr)

sys.meta_path.insert(0, Refuse())
atexit.register(report)
sys.argv = [{script!r}, '--cpu', '--out', {out!r}]
runpy.run_path({script!r}, run_name='__main__')
'''


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('device_check')
    out = str(tmp / 'cpu.json')
    env = dict(os.environ, OMP_NUM_THREADS='1')
    for key in ('PYTHONPATH', 'TRITON_INTERPRET', 'DCKD_MM_NO_TRITON'):
        env.pop(key, None)
    code = WRAPPER.format(blocked=BLOCKED, script=SCRIPT, out=out)
    proc = subprocess.run([sys.executable, '-c', code], cwd=str(tmp),
                          env=env, capture_output=True, text=True,
                          timeout=600)
    child = [line for line in proc.stderr.splitlines()
             if line.startswith('CHILD ')]
    assert child, proc.stderr[-3000:]
    info = json.loads(child[-1][len('CHILD '):])
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    with open(out) as f:
        result = json.load(f)
    return proc, info, result


def test_needs_no_openmmlab_package(run):
    _, info, _ = run
    assert info['refused'] == [] and info['loaded'] == []
    # the loss code is the repository's own files, not an installed copy
    assert info['dckd_file'] == osp.join(ROOT, 'dckd_mm', 'models', 'losses',
                                         'dckd.py')


def test_kernel_checks_pass_through_the_interpreter(run):
    proc, _, result = run
    assert result['mode'] == 'cpu' and result['ok']
    a = result['correctness']
    assert a['ok'] and a['failures'] == []
    assert a['cases'] == 4 * 3 * 6 * 2  # rules x dtypes x shapes x scales
    assert a['rows_compared'] > 0.9 * (a['rows_compared'] +
                                       a['rows_ambiguous'])
    assert all(v <= 1.0 for v in a['worst_ratio_to_tolerance'].values())
    assert [(r['N'], r['C']) for r in result['self_check_cost']['rows']] \
        == [(64, 100), (256, 1000)]
    assert '| (a) kernel vs PyTorch path | pass |' in proc.stdout


def test_what_needs_cuda_is_skipped_with_a_reason(run):
    proc, _, result = run
    assert 'needs CUDA' in result['speed']['skipped']
    assert 'needs CUDA' in result['no_sync']['skipped']
    assert 'imports mmpretrain' in result['step']['skipped']
    for check in ('(b) loss speed', '(c) training step', '(d) no host sync'):
        assert f'| {check} | skipped |' in proc.stdout
