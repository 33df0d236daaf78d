# Copyright (c) dckd_mm contributors. All rights reserved.
"""The code follows the hosts' style: flake8 (79 columns) and isort."""
import os.path as osp
import subprocess
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def test_flake8_and_isort():
    for cmd in (['flake8', 'dckd_mm', 'tools', 'tests', 'configs'],
                ['isort', '--check-only', 'dckd_mm', 'tools', 'tests']):
        proc = subprocess.run([sys.executable, '-m', *cmd], cwd=ROOT,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
