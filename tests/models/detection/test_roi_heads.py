# Copyright (c) dckd_mm contributors. All rights reserved.
"""Only two-stage detectors with softmax RoI classifiers, standard or
cascade on both sides, are distilled; the others are refused by name."""
import copy

import pytest
from mmengine.config import Config

import dckd_mm  # noqa: F401
from tests.fixtures.coco import CASCADE, R18, distill_model
from tests.helpers import build_model

# needs mmdet and mmcv's compiled ops (not on the oldest lane)
pytestmark = pytest.mark.detection


def test_other_roi_heads_are_refused():
    from mmengine.hub import get_config
    model = distill_model(R18)
    model.teacher_ckpt = None
    model.architecture.roi_head.bbox_head.loss_cls = dict(
        type='mmdet.FocalLoss', use_sigmoid=True)
    with pytest.raises(TypeError, match='sigmoid'):
        build_model(model, 'mmdet')
    for name in ('retinanet/retinanet_r50_fpn_1x_coco.py',
                 'double_heads/dh-faster-rcnn_r50_fpn_1x_coco.py',
                 'htc/htc-without-semantic_r50_fpn_1x_coco.py'):
        other = get_config(f'mmdet::{name}').model.to_dict()
        other['_scope_'] = 'mmdet'
        other['backbone']['init_cfg'] = None
        model = distill_model(R18)
        model.architecture = other
        model.architecture.backbone.frozen_stages = -1
        model.architecture.backbone.norm_eval = False
        with pytest.raises(TypeError, match='(?i)supported: two-stage'):
            build_model(model, 'mmdet')
    # a cascade student with a standard teacher
    model = distill_model(CASCADE)
    model.teacher = copy.deepcopy(Config.fromfile(R18).model.teacher)
    with pytest.raises(TypeError, match='RoI heads differ'):
        build_model(model, 'mmdet')
