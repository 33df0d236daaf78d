# Copyright (c) dckd_mm contributors. All rights reserved.
"""CIFAR zoo vs. docs/reference_models.md (RepDistiller b84f547c, SimKD
2b389c31): total parameters, state-dict keys, BN counters, stage shapes,
SimKD feature taps."""
import pytest
import torch
import torch.nn.functional as F

import dckd_mm  # noqa: F401
from dckd_mm.models.zoo import (CIFAR_ZOO, cifar_classifier_cfg,
                                simkd_backbone_cfg, simkd_tap)
from tests.helpers import build_model

# name: (total params, state-dict keys, num_batches_tracked entries,
#        classifier params, channels before pool, pooled map side)
REFERENCE = {
    'resnet8': (83892, 56, 9, 6500, 64, 8),
    'resnet14': (181108, 92, 15, 6500, 64, 8),
    'resnet20': (278324, 128, 21, 6500, 64, 8),
    'resnet32': (472756, 200, 33, 6500, 64, 8),
    'resnet44': (667188, 272, 45, 6500, 64, 8),
    'resnet56': (861620, 344, 57, 6500, 64, 8),
    'resnet110': (1736564, 668, 111, 6500, 64, 8),
    'resnet8x4': (1233540, 62, 10, 25700, 256, 8),
    'resnet32x4': (7433860, 206, 34, 25700, 256, 8),
    'wrn_16_1': (180916, 82, 13, 6500, 64, 8),
    'wrn_16_2': (703284, 83, 13, 12900, 128, 8),
    'wrn_40_1': (569780, 226, 37, 6500, 64, 8),
    'wrn_40_2': (2255156, 227, 37, 12900, 128, 8),
    'vgg8': (3965028, 37, 5, 51300, 512, 4),
    'vgg11': (9277284, 58, 8, 51300, 512, 4),
    'vgg13': (9462180, 72, 10, 51300, 512, 4),
    'vgg16': (14774436, 93, 13, 51300, 512, 4),
    'vgg19': (20086692, 114, 16, 51300, 512, 4),
    'ResNet50': (23705252, 320, 53, 204900, 2048, 4),
    'MobileNetV2': (812836, 320, 53, 128100, 1280, 2),
    'ShuffleV1': (949258, 296, 49, 96100, 960, 4),
    'ShuffleV2': (1355528, 338, 56, 102500, 1024, 4),
    'resnet38x2': (2255604, 242, 40, 12900, 128, 8),
    'resnet110x2': (6911220, 674, 112, 12900, 128, 8),
    'resnet116': (1833780, 704, 117, 6500, 64, 8),
    'ShuffleV2_1_5': (2580548, 338, 56, 102500, 1024, 4),
}

STAGES = {
    'resnet8': [(16, 32), (16, 32), (32, 16), (64, 8)],
    'resnet8x4': [(32, 32), (64, 32), (128, 16), (256, 8)],
    'wrn_40_2': [(16, 32), (32, 32), (64, 16), (128, 8), (128, 8)],
    'vgg13': [(64, 32), (128, 16), (256, 8), (512, 4), (512, 4)],
    'ResNet50': [(64, 32), (256, 32), (512, 16), (1024, 8), (2048, 4)],
    'MobileNetV2': [(16, 16), (12, 16), (16, 8), (48, 4), (160, 2),
                    (1280, 2)],
    'ShuffleV1': [(24, 32), (240, 16), (480, 8), (960, 4)],
    'ShuffleV2': [(24, 32), (116, 16), (232, 8), (464, 4), (1024, 4)],
    'ShuffleV2_1_5': [(24, 32), (176, 16), (352, 8), (704, 4), (1024, 4)],
}


def test_zoo_covers_reference():
    assert set(CIFAR_ZOO) == set(REFERENCE)


@pytest.mark.parametrize('name', sorted(REFERENCE))
def test_counts_match_reference(name):
    params, keys, nbt, cls_params, channels, side = REFERENCE[name]
    model = build_model(cifar_classifier_cfg(name))
    sd = model.state_dict()
    assert sum(p.numel() for p in model.parameters()) == params
    assert len(sd) == keys
    assert sum(k.endswith('num_batches_tracked') for k in sd) == nbt
    assert sum(p.numel() for p in model.head.fc.parameters()) == cls_params
    model.eval()
    with torch.no_grad():
        feat = model.backbone(torch.randn(2, 3, 32, 32))[-1]
    assert tuple(feat.shape) == (2, channels, side, side)


@pytest.mark.parametrize('name', sorted(STAGES))
def test_stage_outputs(name):
    cfg = cifar_classifier_cfg(name)
    n = len(STAGES[name])
    cfg['backbone']['out_indices'] = tuple(range(n))
    model = build_model(cfg).eval()
    with torch.no_grad():
        outs = model.backbone(torch.randn(1, 3, 32, 32))
    assert [(o.shape[1], o.shape[2]) for o in outs] == STAGES[name]


@pytest.mark.parametrize('name', ['resnet8', 'wrn_16_1', 'vgg8',
                                  'MobileNetV2', 'ShuffleV1', 'ShuffleV2'])
def test_every_parameter_gets_a_finite_gradient(name):
    model = build_model(cifar_classifier_cfg(name, num_classes=10))
    logits = model(torch.randn(4, 3, 32, 32), mode='tensor')
    assert logits.shape == (4, 10)
    logits.logsumexp(1).sum().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, pname
        assert torch.isfinite(p.grad).all(), pname


def test_registered_under_own_names_without_clash():
    from mmpretrain.registry import MODELS
    from mmrazor.registry import MODELS as RAZOR
    ours = ['CifarResNet', 'CifarResNet50', 'CifarWideResNet', 'CifarVGG',
            'CifarMobileNetV2', 'CifarShuffleNetV1', 'CifarShuffleNetV2',
            'SimKDClsHead']
    for name in ours:
        assert MODELS.get(name).__module__.startswith('dckd_mm.'), name
    # the host names stay the hosts'
    for name in ('ResNet_CIFAR', 'MobileNetV2', 'ShuffleNetV1',
                 'ShuffleNetV2'):
        assert MODELS.get(name).__module__.startswith('mmpretrain.'), name
    assert RAZOR.get('WideResNet').__module__.startswith('mmrazor.')


def test_bad_arch_and_out_indices():
    from dckd_mm.models.backbones import CifarResNet, CifarShuffleNetV2
    with pytest.raises(ValueError, match='unknown arch'):
        CifarResNet(arch='resnet9')
    with pytest.raises(ValueError, match='out_indices'):
        CifarResNet(out_indices=(4, ))
    with pytest.raises(ValueError, match='net_size'):
        CifarShuffleNetV2(net_size=3)


# SimKD's feat[-2] per model (docs/reference_models.md): (channels, side,
# what comes after it on the way to the pool). Every other zoo model is
# tapped at its pooled map.
TAPS = {
    'ShuffleV2': (464, 4, 'conv2'),
    'ShuffleV2_1_5': (704, 4, 'conv2'),
    'MobileNetV2': (160, 2, 'conv2'),
    'wrn_16_1': (64, 8, 'bn1'),
    'wrn_16_2': (128, 8, 'bn1'),
    'wrn_40_1': (64, 8, 'bn1'),
    'wrn_40_2': (128, 8, 'bn1'),
}


@pytest.mark.parametrize('name', sorted(REFERENCE))
def test_simkd_tap_is_feat_minus_two(name):
    """The SimKD backbone returns exactly RepDistiller's/SimKD's feat[-2],
    written out here per family."""
    _, _, _, _, channels, side = REFERENCE[name]
    expected = TAPS.get(name, (channels, side, ''))
    tap = simkd_tap(name)
    assert (tap.channels, tap.side) == expected[:2]
    assert (expected[2] in tap.skipped) if expected[2] else not tap.skipped
    torch.manual_seed(0)
    full = build_model(cifar_classifier_cfg(name)).eval()
    cfg = cifar_classifier_cfg(name)
    cfg['backbone'] = simkd_backbone_cfg(name)
    tapped = build_model(cfg).eval()
    tapped.load_state_dict(full.state_dict(), strict=True)
    x = torch.randn(2, 3, 32, 32)
    b = full.backbone
    with torch.no_grad():
        (out, ) = tapped.backbone(x)
        if name.startswith('wrn'):  # block3 output, no final bn1 + ReLU
            ref = b.block3(b.block2(b.block1(b.conv1(x))))
        elif name.startswith('ShuffleV2'):  # layer3 output, before conv2
            ref = b.layer3(b.layer2(b.layer1(F.relu(b.bn1(b.conv1(x))))))
        elif name == 'MobileNetV2':  # blocks[6] output, before conv2
            ref = b.conv1(x)
            for block in b.blocks:
                ref = block(ref)
        else:  # the pooled map
            ref = b(x)[-1]
    assert tuple(out.shape) == (2, expected[0], expected[1], expected[1])
    torch.testing.assert_close(out, ref, rtol=0, atol=0)


@pytest.mark.parametrize('name,frozen', [('ShuffleV2', ('conv2', 'bn2')),
                                         ('MobileNetV2', ('conv2', )),
                                         ('wrn_40_1', ('bn1', ))])
def test_stages_after_the_tap_are_kept_and_frozen(name, frozen):
    """They never run: no gradient can reach them (DDP would call them
    unused), but they stay in the state dict for strict loading."""
    cfg = cifar_classifier_cfg(name)
    cfg['backbone'] = simkd_backbone_cfg(name)
    model = build_model(cfg)
    assert sum(p.numel() for p in model.parameters()) == REFERENCE[name][0]
    (out, ) = model.backbone(torch.randn(2, 3, 32, 32))
    out.square().mean().backward()
    for pname, p in model.backbone.named_parameters():
        if pname.split('.')[0] in frozen:
            assert not p.requires_grad and p.grad is None, pname
        else:
            assert p.requires_grad and p.grad is not None, pname
