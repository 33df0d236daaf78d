# Copyright (c) dckd_mm contributors. All rights reserved.
"""The run the launcher tests share: a tiny digits SimKD + DCKD config, its
teacher and a work dir holding the checkpoint of one epoch, trained once
per session through ``tools/train.py``."""
import os.path as osp

import pytest
from mmengine.config import Config

import dckd_mm  # noqa: F401
from tests.helpers import run_tool, save_teacher_ckpt

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DIGITS = osp.join(ROOT, 'configs/demo/dckd_resnet20_resnet8_1xb64_digits.py')


@pytest.fixture(scope='session')
def trained(tmp_path_factory):
    """A tiny config (100 images, 4 iterations an epoch, 2 epochs), its
    teacher, and a work dir holding epoch_1.pth of a 1-epoch run."""
    tmp = tmp_path_factory.mktemp('rel')
    teacher = str(tmp / 'teacher.pth')
    cfg = tmp / 'cfg.py'
    cfg.write_text(
        f"_base_ = ['{DIGITS}']\n"
        "train_pipeline = [dict(type='PackInputs')]\n"
        "train_dataloader = dict(batch_size=25, dataset=dict(indices=100, "
        "pipeline=train_pipeline))\n"
        "test_dataloader = dict(dataset=dict(indices=50))\n"
        "val_dataloader = dict(dataset=dict(indices=50))\n"
        "train_cfg = dict(max_epochs=2, val_interval=100)\n"
        "default_hooks = dict(checkpoint=dict(interval=1))\n"
        f"model = dict(teacher_ckpt='{teacher}')\n"
        "log_level = 'WARNING'\n")
    save_teacher_ckpt(Config.fromfile(str(cfg)).model.teacher.to_dict(),
                      teacher)
    work = tmp / 'work'
    res = run_tool('tools/train.py', str(cfg), '--work-dir', str(work),
                   '--cfg-options', 'train_cfg.max_epochs=1')
    assert res.returncode == 0, res.stderr[-3000:]
    return dict(cfg=str(cfg), teacher=teacher, work=str(work),
                ckpt=str(work / 'epoch_1.pth'), tmp=tmp)
