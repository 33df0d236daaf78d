# Copyright (c) dckd_mm contributors. All rights reserved.
"""FPN levels that disagree with the anchors, the RoI extractor or the
other detector are refused when the distiller is built."""
import pytest
import torch

import dckd_mm  # noqa: F401
from tests.fixtures.coco import MV2, R18, distill_model
from tests.helpers import build_model

# needs mmdet and mmcv's compiled ops (not on the oldest lane)
pytestmark = pytest.mark.detection


def test_misaligned_pyramid_is_refused():
    model = distill_model(MV2)
    model.architecture.backbone.out_indices = (2, 4, 6)  # strides 8-32
    model.architecture.neck.in_channels = [32, 96, 320]
    with pytest.raises(ValueError) as err:
        build_model(model, 'mmdet')
    assert 'strides [8, 16, 32, 64, 128]' in str(err.value)
    assert '[4, 8, 16, 32, 64]' in str(err.value)
    # a teacher whose neck leaves out a level disagrees with the student
    model = distill_model(R18)
    model.teacher.neck.num_outs = 4
    model.teacher.rpn_head.anchor_generator.strides = [4, 8, 16, 32]
    with pytest.raises(ValueError, match="teacher's at"):
        build_model(model, 'mmdet')
    # an RoI extractor that pools other levels than the neck's
    model = distill_model(R18)
    model.architecture.roi_head.bbox_roi_extractor.featmap_strides = [
        8, 16, 32, 64]
    with pytest.raises(ValueError, match='RoI extractor'):
        build_model(model, 'mmdet')


def test_fixed_mobilenetv2_pyramid_matches_mdistiller():
    from dckd_mm.models.detection import check_pyramid
    algo = build_model(distill_model(MV2), 'mmdet')
    assert check_pyramid(algo.student, algo.teacher) == dict(
        student=[4, 8, 16, 32, 64], teacher=[4, 8, 16, 32, 64])
    channels = [f.shape[1] for f in algo.student.backbone(
        torch.zeros(1, 3, 64, 64))]
    assert channels == [24, 32, 96, 320]  # mdistiller's m2-m5
