# Copyright (c) dckd_mm contributors. All rights reserved.
"""SimKDDistill: frozen teacher, gradient flow, predict path, errors; the
DCKD pair configs build SimKD's students (docs/simkd_students.md)."""
import copy

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import OptimWrapper
from mmpretrain.structures import DataSample

import dckd_mm  # noqa: F401
from dckd_mm.models.zoo import (CIFAR_ZOO, simkd_backbone_cfg,
                                simkd_student_cfg, simkd_tap)
from tests.helpers import build_model, save_teacher_ckpt

BASE = 'configs/_base_/distill/simkd_dckd.py'


def algo_cfg(teacher: str, student: str, ckpt: str,
             num_classes: int = 10) -> dict:
    cfg = Config.fromfile(BASE).model.to_dict()
    t = CIFAR_ZOO[teacher]
    cfg['teacher']['backbone'] = dict(t.backbone)
    cfg['teacher']['head'].update(in_channels=t.channels,
                                  num_classes=num_classes)
    cfg['architecture']['backbone'] = simkd_backbone_cfg(student)
    cfg['architecture']['head'].update(
        in_channels=t.channels, num_classes=num_classes)
    cfg['architecture']['head']['projector'].update(
        in_channels=simkd_tap(student).channels, out_channels=t.channels)
    cfg['teacher_ckpt'] = ckpt
    cfg['data_preprocessor'] = dict(
        type='mmpretrain.ClsDataPreprocessor', num_classes=num_classes)
    return cfg


def build_algo(tmp_path, teacher='resnet20', student='resnet8', **kw):
    cfg = algo_cfg(teacher, student, str(tmp_path / 'teacher.pth'), **kw)
    save_teacher_ckpt(cfg['teacher'], str(tmp_path / 'teacher.pth'))
    algo = build_model(dict(cfg, _scope_='mmrazor'))
    algo.init_weights()
    return algo


def batch(n=4, num_classes=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, 32, 32, generator=g)
    labels = torch.randint(0, num_classes, (n, ), generator=g)
    samples = [DataSample().set_gt_label(int(y)) for y in labels]
    return x, samples


def snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_student_head_reuses_frozen_teacher_classifier(tmp_path):
    algo = build_algo(tmp_path)
    s_fc, t_fc = algo.student.head.fc, algo.teacher.head.fc
    assert torch.equal(s_fc.weight, t_fc.weight)
    assert torch.equal(s_fc.bias, t_fc.bias)
    assert not any(p.requires_grad for p in s_fc.parameters())
    assert not any(p.requires_grad for p in algo.teacher.parameters())
    # the teacher weights are the checkpoint's, not a fresh init
    saved = torch.load(tmp_path / 'teacher.pth')['state_dict']
    assert torch.equal(saved['head.fc.weight'], t_fc.weight)


def test_training_steps_freeze_teacher_and_train_student(tmp_path):
    algo = build_algo(tmp_path)
    algo.train()
    assert not algo.teacher.training
    teacher_before = snapshot(algo.teacher)
    fc_before = snapshot(algo.student.head.fc)
    backbone_before = snapshot(algo.student.backbone)
    optim = OptimWrapper(
        torch.optim.SGD(algo.parameters(), lr=0.1, momentum=0.9,
                        weight_decay=5e-4))
    for step in range(3):
        x, samples = batch(seed=step)
        losses = algo.loss(x, samples)
        assert set(losses) == {'distill.loss_feat', 'distill.loss_dckd'}
        assert all(torch.isfinite(v) for v in losses.values())
        optim.zero_grad()
        sum(losses.values()).backward()
        if step == 0:
            for name, p in algo.teacher.named_parameters():
                assert p.grad is None, name
            for p in algo.student.head.fc.parameters():
                assert p.grad is None
            proj = algo.student.head.projector
            assert all(p.grad is not None and p.grad.abs().sum() > 0
                       for p in proj.parameters())
            assert algo.student.backbone.conv1.weight.grad.abs().sum() > 0
        optim.step()
    after = snapshot(algo.teacher)
    for k, v in teacher_before.items():  # weights and BN buffers, bitwise
        assert torch.equal(v, after[k]), k
    for k, v in fc_before.items():
        assert torch.equal(v, algo.student.head.fc.state_dict()[k]), k
    changed = snapshot(algo.student.backbone)
    assert any(not torch.equal(v, changed[k])
               for k, v in backbone_before.items())


def test_predict_equals_training_path_in_eval(tmp_path):
    algo = build_algo(tmp_path, teacher='vgg8', student='resnet8')
    algo.train()
    x, samples = batch()
    algo.loss(x, samples)  # records the teacher's 4x4 map size
    assert algo.student.head.target_hw.tolist() == [4, 4]
    algo.eval()
    data = algo.data_preprocessor(dict(inputs=x, data_samples=samples))
    rec = algo.distiller.student_recorders.get_recorder('logits')
    algo.distiller.set_deliveries_override(False)
    with algo.distiller.student_recorders, torch.no_grad():
        algo.student(data['inputs'], data['data_samples'], mode='loss')
    train_logits = rec.get_record_data()
    with torch.no_grad():
        preds = algo(data['inputs'], copy.deepcopy(samples), mode='predict')
        tensor_logits = algo.student(data['inputs'], mode='tensor')
    torch.testing.assert_close(tensor_logits, train_logits)
    pred_scores = torch.stack([p.pred_score for p in preds])
    torch.testing.assert_close(pred_scores, train_logits.softmax(1))
    # the student's logits really go through the projector and the pooled
    # 4x4 map: recompute by hand.
    head = algo.student.head
    with torch.no_grad():
        f = algo.student.backbone(data['inputs'])[-1]
        f = torch.nn.functional.adaptive_avg_pool2d(f, (4, 4))
        manual = head.fc(head.projector(f).mean((2, 3)))
    torch.testing.assert_close(manual, train_logits)


def test_student_map_smaller_than_teacher(tmp_path):
    """ShuffleV1 (4x4) from resnet20 (8x8): the teacher map is pooled."""
    algo = build_algo(tmp_path, teacher='resnet20', student='ShuffleV1')
    algo.train()
    losses = algo.loss(*batch())
    assert torch.isfinite(sum(losses.values()))


def test_build_errors(tmp_path):
    ckpt = str(tmp_path / 'teacher.pth')
    cfg = algo_cfg('resnet20', 'resnet8', ckpt)
    save_teacher_ckpt(cfg['teacher'], ckpt)
    # projector output channels do not match the teacher classifier
    bad = copy.deepcopy(cfg)
    bad['architecture']['head']['projector']['out_channels'] = 32
    with pytest.raises(ValueError, match="projector's out_channels"):
        build_model(dict(bad, _scope_='mmrazor'))
    # student head classes differ from the teacher's
    bad = copy.deepcopy(cfg)
    bad['architecture']['head']['num_classes'] = 100
    with pytest.raises(ValueError, match='num_classes'):
        build_model(dict(bad, _scope_='mmrazor'))
    # missing teacher checkpoint
    bad = copy.deepcopy(cfg)
    bad['teacher_ckpt'] = str(tmp_path / 'nope.pth')
    with pytest.raises(FileNotFoundError, match='teacher_ckpt'):
        build_model(dict(bad, _scope_='mmrazor'))
    # a checkpoint of another architecture
    other = str(tmp_path / 'other.pth')
    save_teacher_ckpt(algo_cfg('resnet8x4', 'resnet8', ckpt)['teacher'],
                      other)
    bad = copy.deepcopy(cfg)
    bad['teacher_ckpt'] = other
    with pytest.raises(ValueError, match='does not fit'):
        build_model(dict(bad, _scope_='mmrazor'))
    # a student without the SimKD head
    bad = copy.deepcopy(cfg)
    bad['architecture']['head'] = dict(
        type='LinearClsHead', num_classes=10, in_channels=64)
    bad['architecture']['neck'] = dict(type='GlobalAveragePooling')
    with pytest.raises(TypeError, match='SimKDClsHead'):
        build_model(dict(bad, _scope_='mmrazor'))


def test_projector_in_channels_mismatch_is_clear(tmp_path):
    ckpt = str(tmp_path / 'teacher.pth')
    cfg = algo_cfg('resnet20', 'resnet8', ckpt)
    cfg['architecture']['head']['projector']['in_channels'] = 32
    save_teacher_ckpt(cfg['teacher'], ckpt)
    algo = build_model(dict(cfg, _scope_='mmrazor'))
    with pytest.raises(ValueError, match="student's last stage"):
        algo.loss(*batch())


# The 13 pair configs: (teacher, student, deployed student parameters).
# Deployed = student backbone (with its unused final conv / BN, as SimKD
# saves it) + projector + the teacher's classifier; equal to SimKD's own
# construction (docs/simkd_students.md).
PAIRS = {
    'resnet110/resnet32': 486324,
    'resnet110x2/ShuffleV2_1_5': 2581572,
    'resnet32x4/ShuffleV1': 1182986,
    'resnet32x4/ShuffleV2': 1519368,
    'resnet32x4/wrn_40_2': 2465588,
    'resnet38x2/resnet8x4': 1282692,
    'resnet56/resnet20': 291892,
    'ResNet50/MobileNetV2': 12596004,
    'vgg13/vgg8': 4819044,
    'wrn_40_2/resnet8x4': 1282692,
    'wrn_40_2/ShuffleV1': 973066,
    'wrn_40_2/wrn_40_1': 625844,
    'resnet32x4/resnet8x4': 1447556,
}


def pair_config(name: str) -> Config:
    """The pair's config, named by the scheme's spelling of the zoo names
    (lower case, hyphens)."""
    teacher, student = (n.lower().replace('_', '-') for n in name.split('/'))
    return Config.fromfile(
        f'configs/dckd/dckd_{teacher}_{student}_1xb64_cifar100.py')


def test_user_alias_builds_the_same_student():
    alias = Config.fromfile('configs/dckd/res32x4_res8x4_cifar100.py')
    assert alias.model == pair_config('resnet32x4/resnet8x4').model


@pytest.mark.parametrize('name', sorted(PAIRS))
def test_pair_config_builds_simkd_student(name):
    teacher, student = name.split('/')
    params = PAIRS[name]
    cfg = pair_config(name)
    arch = cfg.model.architecture.to_dict()
    assert arch['head']['projector']['in_channels'] == \
        simkd_tap(student).channels
    model = build_model(arch)
    assert model.backbone.out_indices == (simkd_tap(student).stage, )
    assert sum(p.numel() for p in model.parameters()) == params
    reference = build_model(simkd_student_cfg(student, teacher))
    assert {k: v.shape for k, v in model.state_dict().items()} == \
        {k: v.shape for k, v in reference.state_dict().items()}
    t_cfg = cfg.model.teacher.to_dict()
    t_out = t_cfg['backbone'].get('out_indices')
    if teacher.startswith('wrn'):  # SimKD's feat_t[-2]: before bn1 + ReLU
        assert t_out == (3, 4)
        mapping = cfg.model.distiller.loss_forward_mappings.loss_feat
        assert mapping.t_feature.data_idx == 0
    else:
        assert t_out is None


def test_wrn_pair_trains_on_simkd_features(tmp_path):
    """wrn_40_2 -> wrn_40_1: the projector reads the student's block3
    output, the feature loss targets the teacher's block3 output (both
    before the final BN + ReLU), and every trainable parameter gets a
    gradient (DDP-safe) while the student's unused bn1 stays frozen."""
    cfg = pair_config('wrn_40_2/wrn_40_1').model.to_dict()
    ckpt = str(tmp_path / 'teacher.pth')
    save_teacher_ckpt(cfg['teacher'], ckpt)
    cfg.update(teacher_ckpt=ckpt, data_preprocessor=dict(
        type='mmpretrain.ClsDataPreprocessor', num_classes=100))
    algo = build_model(dict(cfg, _scope_='mmrazor'))
    algo.init_weights()
    algo.train()
    x, samples = batch(num_classes=100)
    feats = {}
    hooks = [
        algo.student.backbone.block3.register_forward_hook(
            lambda m, i, o: feats.__setitem__('s', o)),
        algo.teacher.backbone.block3.register_forward_hook(
            lambda m, i, o: feats.__setitem__('t', o)),
        algo.student.head.projector.register_forward_hook(
            lambda m, i, o: feats.__setitem__('proj_in', i[0])),
    ]
    losses = algo.loss(x, samples)
    for h in hooks:
        h.remove()
    assert torch.equal(feats['proj_in'], feats['s'])
    rec = algo.distiller.teacher_recorders.get_recorder('feat')
    assert torch.equal(rec.get_record_data(data_idx=0), feats['t'])
    loss_feat = torch.nn.functional.mse_loss(
        algo.student.head.projector(feats['s']), feats['t'])
    torch.testing.assert_close(losses['distill.loss_feat'], loss_feat)
    sum(losses.values()).backward()
    for name, p in algo.student.named_parameters():
        if name.startswith('backbone.bn1.') or name.startswith('head.fc.'):
            assert not p.requires_grad, name
        else:
            assert p.requires_grad and p.grad is not None, name
