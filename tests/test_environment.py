# Copyright (c) dckd_mm contributors. All rights reserved.
"""dckd_mm in the environments its users have: classification without
mmcv's compiled ops or mmdet, and an install that never replaces torch or
mmcv."""
import json
import os
import os.path as osp
import subprocess
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

# A meta-path finder that makes these modules unimportable, installed
# before anything else is imported (as on a host with mmcv-lite and no
# mmdet).
# A spec without a loader: ``import`` fails with ImportError and
# ``pkgutil.find_loader`` finds nothing, as for a module that is absent.
BLOCK = '''
import importlib.abc, importlib.machinery, sys
BLOCKED = ('mmcv.ops', 'mmcv._ext', 'mmdet')
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + '.') for b in BLOCKED):
            return importlib.machinery.ModuleSpec(name, None)
sys.meta_path.insert(0, Block())
'''

STEP = '''
import torch
from mmengine.runner import Runner
import dckd_mm
from tests.helpers import (run_name, save_teacher_ckpt, tiny_run_cfg,
                           write_cifar100)
tmp = sys.argv[1]
cfg = tiny_run_cfg(
    'configs/dckd/dckd_resnet32x4_resnet8x4_1xb64_cifar100.py',
    tmp + '/work', write_cifar100(tmp + '/cifar', 2, 2))
save_teacher_ckpt(cfg.model.teacher.to_dict(), tmp + '/t.pth')
cfg.model.teacher_ckpt = tmp + '/t.pth'
cfg.experiment_name = run_name('noops')
runner = Runner.from_cfg(cfg)
runner.train()
losses = {k: v.current() for k, v in runner.message_hub.log_scalars.items()
          if k.startswith('train/distill.')}
assert runner.iter == 1, runner.iter
assert 'train/distill.loss_dckd' in losses, sorted(losses)
assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())
for name in ('mmdet', 'mmcv._ext', 'mmcv.ops'):
    assert name not in sys.modules, name
print('OK', sorted(losses))
'''


def test_classification_without_compiled_ops_or_mmdet(tmp_path):
    """``import dckd_mm`` and a SimKD + DCKD training step on the CIFAR pair
    work where ``mmcv.ops``, ``mmcv._ext`` and ``mmdet`` do not import."""
    proc = subprocess.run(
        [sys.executable, '-c', BLOCK + STEP, str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, 'PYTHONPATH': ROOT})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'OK' in proc.stdout and 'loss_dckd' in proc.stdout


DETECTION = ('configs/dckd/'
             'dckd_faster-rcnn-r101-fpn_faster-rcnn-r50-fpn_8xb2-1x_coco.py')


def test_detection_config_names_what_to_install(tmp_path):
    """Where mmdet does not import, a detection config stops at once with
    ``error: ...`` (status 2) naming mmdet, and writes nothing."""
    code = BLOCK + (
        'import runpy\n'
        f'sys.argv = ["tools/train.py", {DETECTION!r}, "--work-dir", '
        f'{str(tmp_path / "work")!r}]\n'
        'runpy.run_path("tools/train.py", run_name="__main__")\n')
    proc = subprocess.run([sys.executable, '-c', code], cwd=ROOT,
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, 'PYTHONPATH': ROOT})
    assert proc.returncode == 2, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith('error: ') and 'detection config' in last
    assert 'pip install mmdet==3.3.0' in last
    assert not (tmp_path / 'work').exists()


def _would_install(*target: str) -> list:
    """What ``pip install TARGET`` would install or replace here, resolved
    offline against what is installed (``--dry-run --report``)."""
    proc = subprocess.run(
        [sys.executable, '-m', 'pip', 'install', '--dry-run', '--no-index',
         '--no-build-isolation', '--disable-pip-version-check', '-q',
         '--report', '-', *target],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    return [item['metadata']['name'].lower() for item in report['install']]


def test_pip_install_never_replaces_torch_or_mmcv():
    """The declared ranges admit this environment's torch, torchvision and
    mmcv (or mmcv-lite): pip would install dckd_mm and nothing else."""
    for target in (['.'], ['-e', '.']):
        names = _would_install(*target)
        assert names == ['dckd-mm'] or names == ['dckd_mm'], (target, names)
