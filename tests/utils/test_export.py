# Copyright (c) dckd_mm contributors. All rights reserved.
"""A distillation checkpoint exports to a standalone mmpretrain student
whose predictions equal the distillation model's."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import dckd_mm  # noqa: F401
from dckd_mm.compat import safe_load
from tests.helpers import (build_model, run_tool, save_teacher_ckpt,
                           tiny_run_cfg, write_cifar100)

CONFIGS = {
    'simkd': 'configs/dckd/res32x4_res8x4_cifar100.py',
    # WRN student tapped before its final BN + ReLU, WRN teacher's target
    # its block3 output (docs/simkd_students.md)
    'simkd-wrn': 'configs/dckd/dckd_wrn-40-2_wrn-40-1_1xb64_cifar100.py',
    'logits':
    'configs/dckd/dckd_logits_resnet32x4_resnet8x4_1xb64_cifar100.py',
}


@pytest.mark.parametrize('kind', sorted(CONFIGS))
def test_export_round_trip(kind, tmp_path):
    root = write_cifar100(str(tmp_path / 'cifar'), 4, 4)
    cfg = tiny_run_cfg(CONFIGS[kind], str(tmp_path / 'work'), root)
    ckpt = str(tmp_path / 'teacher.pth')
    save_teacher_ckpt(cfg.model.teacher.to_dict(), ckpt)
    cfg.model.teacher_ckpt = ckpt
    cfg.experiment_name = f'export_{kind}'
    runner = Runner.from_cfg(cfg)
    runner.train()
    dump = str(tmp_path / 'distill.py')
    cfg.dump(dump)
    out_cfg, out_ckpt = str(tmp_path / 's.py'), str(tmp_path / 's.pth')
    res = run_tool('tools/model_converters/export_student.py', dump,
                   osp.join(cfg.work_dir, 'epoch_1.pth'), out_cfg, out_ckpt)
    assert res.returncode == 0, res.stderr
    s_cfg = Config.fromfile(out_cfg)
    assert 'teacher' not in s_cfg.model
    student = build_model(s_cfg.model.to_dict()).eval()
    state = safe_load(out_ckpt)['state_dict']
    student.load_state_dict(state, strict=True)
    if kind.startswith('simkd'):
        assert s_cfg.model.head.type == 'SimKDClsHead'
        assert torch.equal(state['head.fc.weight'],
                           runner.model.teacher.head.fc.weight)
    algo = runner.model
    algo.eval()  # mmrazor's train() returns None: no chaining
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(student(x, mode='tensor'),
                                   algo.student(x, mode='tensor'))


def test_export_refuses_non_distillation_checkpoint(tmp_path):
    path = tmp_path / 'plain.pth'
    torch.save({'state_dict': {'backbone.w': torch.zeros(1)}}, path)
    res = run_tool('tools/model_converters/export_student.py',
                   'configs/dckd/res32x4_res8x4_cifar100.py', str(path),
                   str(tmp_path / 'a.py'), str(tmp_path / 'a.pth'))
    assert res.returncode == 2 and 'architecture' in res.stderr
    assert not (tmp_path / 'a.pth').exists()
