# Copyright (c) dckd_mm contributors. All rights reserved.
"""Detection mixing: the RoI DCKD loss and one of mmrazor's FPN losses (CWD,
PKD) in one RoIDCKDDistill, as configs/dckd/dckd_{cwd,pkd}_*_coco.py set
them. Their FPN part is mmrazor's own config's; one CPU training step on
the generated COCO set (tests/fixtures/coco.py) logs a finite value under
every loss key; each FPN loss equals mmrazor's loss module applied, apart
from the distiller, to the two necks' outputs on that batch; the teacher
stays bitwise frozen."""
import itertools
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import dckd_mm  # noqa: F401
from tests.fixtures.coco import ROOT, logged, teacher_file, tiny, write_coco

# needs mmdet and mmcv's compiled ops (not on the oldest lane)
pytestmark = pytest.mark.detection

PAIR = 'faster-rcnn-r101-fpn_faster-rcnn-r50-fpn_8xb2-1x_coco.py'
PLAIN = osp.join(ROOT, 'configs', 'dckd', f'dckd_{PAIR}')
# each mixing config and the mmrazor config its FPN part comes from
# (mmrazor/.mim/configs/distill/mmdet/ in the installed package)
MMRAZOR = {
    'cwd': 'cwd/cwd_fpn_frcnn_r101_frcnn_r50_1x_coco.py',
    'pkd': 'pkd/pkd_fpn_faster-rcnn_r101_faster-rcnn_r50_2x_coco.py',
}
FPN_KEYS = ('student_recorders', 'teacher_recorders', 'distill_losses',
            'loss_forward_mappings')


def _config(variant: str) -> str:
    return osp.join(ROOT, 'configs', 'dckd', f'dckd_{variant}_{PAIR}')


@pytest.fixture(scope='module')
def coco_root(tmp_path_factory):
    return write_coco(str(tmp_path_factory.mktemp('coco')))


@pytest.mark.parametrize('variant', sorted(MMRAZOR))
def test_fpn_part_is_mmrazors_and_roi_part_the_plain_configs(variant):
    """Recorders, FPN losses (types, weights) and their mappings are exactly
    mmrazor's config's; the RoI loss, the pair and the recipe are the plain
    R50 config's."""
    import mmrazor
    ref_path = osp.join(osp.dirname(mmrazor.__file__), '.mim', 'configs',
                        'distill', 'mmdet', MMRAZOR[variant])
    if not osp.isfile(ref_path):
        pytest.skip(f'this mmrazor install ships no configs ({ref_path})')
    ref = Config.fromfile(ref_path).model.distiller
    cfg = Config.fromfile(_config(variant))
    plain = Config.fromfile(PLAIN)
    for key in FPN_KEYS:
        assert cfg.model.distiller[key].to_dict() == ref[key].to_dict(), key
    assert not plain.model.distiller.get('distill_losses')
    assert cfg.model.roi_loss == plain.model.roi_loss
    for key in ('architecture', 'teacher', 'teacher_ckpt'):
        assert cfg.model[key] == plain.model[key], key
    for key in ('train_cfg', 'optim_wrapper', 'param_scheduler',
                'train_dataloader'):
        assert cfg[key] == plain[key], key


@pytest.mark.parametrize('variant', sorted(MMRAZOR))
def test_one_step_logs_both_and_fpn_loss_is_mmrazors(variant, coco_root,
                                                     tmp_path):
    from mmrazor.registry import MODELS
    ckpt = str(tmp_path / 'teacher.pth')
    cfg = tiny(_config(variant), coco_root, str(tmp_path / 'w'), ckpt)
    saved = teacher_file(cfg, ckpt)
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=1)
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.default_hooks.checkpoint = None
    runner = Runner.from_cfg(cfg)
    algo = runner.model
    # the two detectors normalise alike: the teacher sees the same batch
    assert algo.teacher_norm is None

    def teacher_tensors():
        return {
            name: t.detach().clone()
            for name, t in itertools.chain(algo.teacher.named_parameters(),
                                           algo.teacher.named_buffers())
        }

    before = teacher_tensors()
    seen = {}
    loss = algo.loss

    def spy(inputs, data_samples=None):
        # both necks on this batch, computed apart from the distiller and
        # its recorders (the student's BN is frozen: norm_eval=True)
        with torch.no_grad():
            seen['student'] = algo.student.extract_feat(inputs)
            seen['teacher'] = algo.teacher.extract_feat(inputs)
        losses = loss(inputs, data_samples)
        seen['losses'] = {k: v.detach().clone() for k, v in losses.items()
                          if k.startswith('distill.')}
        seen['neck'] = {k: v.clone()
                        for k, v in algo.student.neck.state_dict().items()}
        return losses

    algo.loss = spy
    runner.train()
    assert runner.iter == 1

    fpn = cfg.model.distiller.distill_losses
    logs = logged(runner)
    names = [f'distill.{n}' for n in fpn] + ['distill.loss_roi_dckd',
                                             'student.loss_cls']
    for name in names:
        assert name in logs, sorted(logs)
        assert np.isfinite(logs[name]), (name, logs[name])
    assert len(fpn) == (5 if variant == 'cwd' else 4)

    for name, loss_cfg in fpn.items():
        level = int(name.rsplit('fpn', 1)[1])
        mapping = cfg.model.distiller.loss_forward_mappings[name]
        assert {m.data_idx for m in mapping.values()} == {level}
        reference = MODELS.build(dict(loss_cfg, _scope_='mmrazor'))(
            seen['student'][level], seen['teacher'][level])
        assert reference > 0  # random teacher, another student: not equal
        torch.testing.assert_close(seen['losses'][f'distill.{name}'],
                                   reference, rtol=1e-5, atol=0)
        assert logs[f'distill.{name}'] == pytest.approx(
            reference.item(), rel=1e-5)

    # frozen: every parameter and buffer as before the step, and as saved
    after = teacher_tensors()
    assert after.keys() == before.keys()
    for name, value in before.items():
        assert torch.equal(after[name], value), name
    state = algo.teacher.state_dict()
    assert state.keys() == saved.keys()
    for name, value in saved.items():
        assert torch.equal(state[name], value), name
    # while the student's neck, which the FPN loss reaches, did learn
    neck = algo.student.neck.state_dict()
    assert any(not torch.equal(neck[k], v) for k, v in seen['neck'].items())
