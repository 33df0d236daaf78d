# Copyright (c) dckd_mm contributors. All rights reserved.
"""The teacher gets the student's batch normalised its own way."""
import copy

import pytest
import torch
from mmengine.config import ConfigDict

import dckd_mm  # noqa: F401
from tests.fixtures.coco import R18, distill_model, raw_batch, tiny, write_coco
from tests.helpers import build_model

# needs mmdet and mmcv's compiled ops (not on the oldest lane)
pytestmark = pytest.mark.detection


@pytest.fixture(scope='module')
def coco_root(tmp_path_factory):
    return write_coco(str(tmp_path_factory.mktemp('coco')))


def _caffe_teacher(model: ConfigDict) -> ConfigDict:
    model.teacher.data_preprocessor = dict(
        type='DetDataPreprocessor', mean=[103.53, 116.28, 123.675],
        std=[1.0, 1.0, 1.0], bgr_to_rgb=False, pad_size_divisor=32)
    return model


def test_teacher_sees_its_own_normalisation(coco_root, tmp_path):
    """A caffe-style teacher (BGR, std 1) is fed exactly what its own
    data_preprocessor makes of the raw batch, padding included."""
    cfg = tiny(R18, coco_root, str(tmp_path / 'w'), 'unused.pth')
    cfg.train_dataloader.dataset.pipeline.insert(
        3, dict(type='RandomFlip', prob=1.0))
    model = _caffe_teacher(distill_model(R18))
    algo = build_model(model, 'mmdet')
    assert algo.teacher_norm is not None
    raw = raw_batch(cfg)
    # two images of different sizes so that one is padded
    raw['inputs'][1] = raw['inputs'][1][:, :40, :70]
    raw['data_samples'][1].set_metainfo(dict(img_shape=(40, 70)))
    student = algo.data_preprocessor(copy.deepcopy(raw), True)
    expected = algo.teacher.data_preprocessor(copy.deepcopy(raw), True)
    got = algo.teacher_inputs(student['inputs'], student['data_samples'])
    assert got.shape == expected['inputs'].shape
    torch.testing.assert_close(got, expected['inputs'], atol=2e-3,
                               rtol=0)
    # and that is what the teacher's backbone receives in a training step
    seen = []
    hook = algo.teacher.backbone.register_forward_pre_hook(
        lambda m, args: seen.append(args[0].clone()))
    algo.train()
    algo.loss(student['inputs'], student['data_samples'])
    hook.remove()
    torch.testing.assert_close(seen[0], expected['inputs'], atol=2e-3,
                               rtol=0)
    # a teacher that agrees with the student gets the batch unchanged
    same = build_model(distill_model(R18), 'mmdet')
    assert same.teacher_norm is None
    assert same.teacher_inputs(student['inputs'],
                               student['data_samples']) is student['inputs']
