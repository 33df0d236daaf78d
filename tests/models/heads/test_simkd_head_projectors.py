# Copyright (c) dckd_mm contributors. All rights reserved.
"""mmrazor connectors as the SimKDClsHead projector (a real training step,
predict and the student rebuilt alone from its config and weights), and
ConfigurableDistiller's own ``connectors=`` route next to SimKD."""
import copy

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.optim import OptimWrapper
from mmpretrain.structures import DataSample

import dckd_mm  # noqa: F401  (before mmrazor.models: the host fixes)
from dckd_mm.errors import ConfigError
from tests.helpers import build_model, save_teacher_ckpt

BASE = 'configs/_base_/distill/simkd_dckd.py'
NUM_CLASSES = 10
# resnet20 -> resnet8: both end in 64 channels at 8x8 (32x32 input)
CHANNELS = 64

PROJECTORS = {
    'SimKDProjector': dict(type='SimKDProjector', in_channels=CHANNELS,
                           out_channels=CHANNELS),
    'ConvModuleConnector': dict(
        type='ConvModuleConnector', in_channel=CHANNELS,
        out_channel=CHANNELS, kernel_size=3, padding=1,
        norm_cfg=dict(type='BN')),
    'Translator': dict(type='Translator', in_channel=CHANNELS,
                       out_channel=CHANNELS),
    'TorchNNConnector': dict(
        type='TorchNNConnector', module_name='Conv2d',
        module_args=dict(in_channels=CHANNELS, out_channels=CHANNELS,
                         kernel_size=1)),
    # a chain: conv, then an mmrazor functional connector (upsampling)
    'chain': [
        dict(type='ConvModuleConnector', in_channel=CHANNELS,
             out_channel=CHANNELS, norm_cfg=dict(type='BN')),
        dict(type='TorchFunctionalConnector', function_name='interpolate',
             func_args=dict(scale_factor=2, mode='nearest')),
    ],
}


def base_connector() -> type:
    from mmrazor.models.architectures.connectors.base_connector import \
        BaseConnector
    return BaseConnector


def algo_cfg(projector, ckpt: str) -> dict:
    cfg = Config.fromfile(BASE).model.to_dict()
    cfg['teacher']['backbone'] = dict(type='CifarResNet', arch='resnet20')
    cfg['teacher']['head'].update(in_channels=CHANNELS,
                                  num_classes=NUM_CLASSES)
    cfg['architecture']['backbone'] = dict(type='CifarResNet', arch='resnet8')
    cfg['architecture']['head'].update(
        in_channels=CHANNELS, num_classes=NUM_CLASSES,
        projector=copy.deepcopy(projector))
    cfg['teacher_ckpt'] = ckpt
    cfg['data_preprocessor'] = dict(
        type='mmpretrain.ClsDataPreprocessor', num_classes=NUM_CLASSES)
    return cfg


def build_algo(cfg: dict):
    save_teacher_ckpt(cfg['teacher'], cfg['teacher_ckpt'])
    algo = build_model(dict(cfg, _scope_='mmrazor'))
    algo.init_weights()
    return algo


def batch(n: int = 4, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, 32, 32, generator=g)
    labels = torch.randint(0, NUM_CLASSES, (n, ), generator=g)
    return x, [DataSample().set_gt_label(int(y)) for y in labels]


def test_simkd_projector_is_an_mmrazor_connector():
    from dckd_mm.models.connectors import SimKDProjector
    proj = SimKDProjector(8, 16)
    assert isinstance(proj, base_connector())
    x = torch.randn(2, 8, 4, 4)
    torch.testing.assert_close(proj(x), proj.forward_train(x))


@pytest.mark.parametrize('name', sorted(PROJECTORS))
def test_connector_as_projector_trains_and_predicts(name, tmp_path):
    cfg = algo_cfg(PROJECTORS[name], str(tmp_path / 'teacher.pth'))
    algo = build_algo(cfg)
    head = algo.student.head
    proj = head.projector
    assert all(isinstance(m, base_connector()) for m in (
        proj if isinstance(proj, torch.nn.Sequential) else [proj]))
    algo.train()
    before = {k: v.detach().clone() for k, v in proj.state_dict().items()}
    teacher_before = {k: v.clone()
                      for k, v in algo.teacher.state_dict().items()}
    optim = OptimWrapper(torch.optim.SGD(algo.parameters(), lr=0.1))
    losses = algo.loss(*batch())
    assert set(losses) == {'distill.loss_feat', 'distill.loss_dckd'}
    assert all(torch.isfinite(v) for v in losses.values())
    optim.update_params(sum(losses.values()))
    # the projector learnt; the teacher and its classifier copy did not
    assert any(not torch.equal(v, proj.state_dict()[k])
               for k, v in before.items() if v.is_floating_point())
    for k, v in teacher_before.items():
        assert torch.equal(v, algo.teacher.state_dict()[k]), k
    assert torch.equal(head.fc.weight, algo.teacher.head.fc.weight)

    # predict: logits are fc_T(GAP(projector(f_S))), computed by hand
    algo.eval()
    x, samples = batch(seed=1)
    data = algo.data_preprocessor(dict(inputs=x, data_samples=samples))
    with torch.no_grad():
        preds = algo(data['inputs'], copy.deepcopy(samples), mode='predict')
        f = algo.student.backbone(data['inputs'])[-1]
        manual = head.fc(proj(f).mean((2, 3)))
    scores = torch.stack([p.pred_score for p in preds])
    torch.testing.assert_close(scores, manual.softmax(1))

    # the student alone, rebuilt from its config and weights (what export
    # writes), predicts the same: the projector is part of the student
    alone = build_model(cfg['architecture']).eval()
    alone.load_state_dict(algo.student.state_dict(), strict=True)
    with torch.no_grad():
        torch.testing.assert_close(
            alone(data['inputs'], mode='tensor'), manual)


def test_projector_output_is_checked(tmp_path):
    # a connector that keeps 64 channels while the teacher has 128
    cfg = algo_cfg(PROJECTORS['Translator'], str(tmp_path / 'teacher.pth'))
    cfg['teacher']['backbone'] = dict(type='CifarResNet', arch='resnet8x4')
    cfg['teacher']['head']['in_channels'] = 256
    cfg['architecture']['head']['in_channels'] = 256
    algo = build_algo(cfg)
    with pytest.raises(ConfigError, match=r'Translator\) turned the student '
                       r'map \(4, 64, 8, 8\) into \(4, 64, 8, 8\)'):
        algo.loss(*batch())
    # a projector that states its out_channels is refused at build time
    bad = algo_cfg(PROJECTORS['SimKDProjector'], cfg['teacher_ckpt'])
    bad['architecture']['head']['in_channels'] = 256
    with pytest.raises(ConfigError, match='outputs 64 channels but the '
                       'reused teacher classifier takes 256'):
        build_model(bad['architecture'])
    with pytest.raises(ConfigError, match='non-empty list'):
        build_model(dict(bad['architecture'], head=dict(
            bad['architecture']['head'], projector=[])))


def test_connector_takes_the_zoo_tap_channels():
    """``student_arch`` fills a connector's ``in_channel`` (mmrazor's
    spelling) from the SimKD tap, and refuses a different one."""
    arch = dict(type='ImageClassifier',
                backbone=dict(type='CifarResNet', arch='resnet8x4'),
                head=dict(type='SimKDClsHead', num_classes=NUM_CLASSES,
                          in_channels=64, student_arch='resnet8x4',
                          projector=dict(type='ConvModuleConnector',
                                         out_channel=64)))
    model = build_model(arch)
    assert model.head.projector.conv_module.conv.in_channels == 256
    arch['head']['projector']['in_channel'] = 32
    with pytest.raises(ConfigError, match='projector.in_channel=256'):
        build_model(arch)


def test_distiller_connectors_route_beside_simkd(tmp_path):
    """ConfigurableDistiller's ``connectors=``: a FitNet-style hint on the
    second stage through a SimKDProjector connector (stage 2 of resnet8,
    32 channels, to stage 2 of resnet20, 32 channels) trains beside SimKD;
    the connector lives in the distiller, not in the student."""
    cfg = algo_cfg(PROJECTORS['SimKDProjector'], str(tmp_path / 't.pth'))
    dist = cfg['distiller']
    dist['student_recorders']['s2'] = dict(type='ModuleOutputs',
                                           source='backbone.layer2')
    dist['teacher_recorders']['t2'] = dict(type='ModuleOutputs',
                                           source='backbone.layer2')
    dist['connectors'] = dict(hint=dict(
        type='SimKDProjector', in_channels=32, out_channels=32,
        out_act=False))
    dist['distill_losses']['loss_hint'] = dict(type='SimKDFeatureLoss',
                                               loss_weight=2.0)
    dist['loss_forward_mappings']['loss_hint'] = dict(
        s_feature=dict(from_student=True, recorder='s2', connector='hint'),
        t_feature=dict(from_student=False, recorder='t2'))
    algo = build_algo(cfg)
    algo.train()
    losses = algo.loss(*batch())
    assert set(losses) == {'distill.loss_feat', 'distill.loss_dckd',
                           'distill.loss_hint'}
    connector = algo.distiller.connectors['hint']
    s2 = algo.distiller.student_recorders.get_recorder('s2').get_record_data()
    t2 = algo.distiller.teacher_recorders.get_recorder('t2').get_record_data()
    assert s2.shape == t2.shape == (4, 32, 16, 16)
    expected = 2.0 * F.mse_loss(connector(s2), t2)
    torch.testing.assert_close(losses['distill.loss_hint'], expected)
    losses['distill.loss_hint'].backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0
               for p in connector.parameters())
    assert algo.student.backbone.layer2[0].conv1.weight.grad.abs().sum() > 0
    assert algo.student.head.projector.transfer[0].weight.grad is None
    assert not any(k.startswith('distiller.connectors')
                   for k in algo.student.state_dict())
    assert any(k.startswith('distiller.connectors.hint.transfer')
               for k in algo.state_dict())
