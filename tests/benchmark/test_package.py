# Copyright (c) dckd_mm contributors. All rights reserved.
"""dckd_mm.benchmark is a normal package module: ``import dckd_mm`` does
not load it, and loading it adds no third-party module to what
``import dckd_mm`` already loaded (scikit-learn and matplotlib are imported
inside the functions that use them)."""
import json
import os
import os.path as osp
import subprocess
import sys

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PROBE = '''
import json, sys
import dckd_mm
before = set(sys.modules)
import dckd_mm.benchmark
import dckd_mm.benchmark.feature_plots
import sysconfig
stdlib = sysconfig.get_paths()['stdlib']
def third_party(name):
    module = sys.modules.get(name)
    path = getattr(module, '__file__', None) or ''
    # built-in or frozen modules have no file; the stdlib lives in stdlib
    return bool(path) and not (path.startswith(stdlib) and
                               'site-packages' not in path)
added = sorted(m.split('.')[0] for m in set(sys.modules) - before
               if third_party(m.split('.')[0]))
print(json.dumps(dict(loaded_by_dckd_mm='dckd_mm.benchmark' in before,
                      added=sorted(set(added)))))
'''


def test_import_adds_no_third_party_module():
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, '-c', PROBE], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True)
    probe = json.loads(out.stdout.strip().splitlines()[-1])
    assert probe == dict(loaded_by_dckd_mm=False, added=['dckd_mm'])
