# Copyright (c) dckd_mm contributors. All rights reserved.
"""Which teacher heads SimKD can reuse, and the refusals of the others."""
import pytest

import dckd_mm  # noqa: F401
from dckd_mm.errors import ConfigError
from dckd_mm.models.algorithms.teacher_classifier import \
    find_teacher_classifier
from tests.helpers import build_model

VIT = dict(type='VisionTransformer',
           arch=dict(embed_dims=32, num_layers=1, num_heads=2,
                     feedforward_channels=64),
           img_size=32, patch_size=8)


def classifier(head: dict, backbone: dict = None) -> dict:
    return dict(type='ImageClassifier',
                backbone=backbone or dict(type='CifarResNet', arch='resnet8'),
                neck=None if backbone else dict(type='GlobalAveragePooling'),
                head=head)


def test_linear_head_classifier_is_fc():
    model = build_model(classifier(dict(type='LinearClsHead', num_classes=7,
                                        in_channels=64)))
    found = find_teacher_classifier(model)
    assert found.path == 'head.fc' and found.linear is model.head.fc
    assert found.shape == (7, 64)
    assert found.describe() == 'head.fc of LinearClsHead, (7, 64)'


def test_vit_head_classifier_is_layers_head():
    model = build_model(classifier(dict(
        type='VisionTransformerClsHead', num_classes=7, in_channels=32), VIT))
    found = find_teacher_classifier(model)
    assert found.path == 'head.layers.head'
    assert found.linear is model.head.layers.head
    assert found.shape == (7, 32)
    # the path is a real module path of the teacher (what recorders name)
    assert dict(model.named_modules())[found.path] is found.linear


@pytest.mark.parametrize('head, backbone, found', [
    (dict(type='VisionTransformerClsHead', num_classes=7, in_channels=32,
          hidden_dim=16), VIT, 'hidden_dim=16'),
    (dict(type='DeiTClsHead', num_classes=7, in_channels=32),
     dict(VIT, type='DistilledVisionTransformer'), 'dist token'),
    (dict(type='StackedLinearClsHead', num_classes=7, in_channels=64,
          mid_channels=[16]), None, 'no classifier SimKD can reuse'),
])
def test_other_heads_are_refused(head, backbone, found):
    model = build_model(classifier(head, backbone))
    with pytest.raises(ConfigError) as err:
        find_teacher_classifier(model)
    msg = str(err.value)
    assert f'the teacher head is {head["type"]} with' in msg
    assert found in msg
    assert 'Supported: LinearClsHead (classifier at head.fc) and ' \
        'VisionTransformerClsHead without hidden_dim' in msg
    assert "source='head'" in msg  # what works instead: the logit route


def test_linear_head_with_its_own_forward_is_refused():
    from mmpretrain.models.heads import LinearClsHead

    class Doubled(LinearClsHead):
        def forward(self, feats):
            return 2 * super().forward(feats)

    model = build_model(classifier(dict(type='LinearClsHead', num_classes=7,
                                        in_channels=64)))
    model.head.__class__ = Doubled
    with pytest.raises(ConfigError, match='Doubled with its own forward'):
        find_teacher_classifier(model)
    with pytest.raises(ConfigError, match='the teacher head is NoneType '
                       'with no head'):
        find_teacher_classifier(model.backbone)
