# Copyright (c) dckd_mm contributors. All rights reserved.
"""Heterogeneous pairs: SimKD + DCKD with a transformer teacher (the
classifier found at head.layers.head, the cls token as the SimKD feature),
DCKD as a logit loss between any mmpretrain classifiers (ViT and DeiT on
either side), and the DeiT-small -> ResNet-18 ImageNet config at a small
input size with random weights."""
import copy

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.optim import OptimWrapper
from mmpretrain.structures import DataSample

import dckd_mm  # noqa: F401
from dckd_mm.errors import ConfigError
from dckd_mm.models.losses import dckd_loss
from tests.helpers import build_model, save_teacher_ckpt

DEIT_CFG = 'configs/dckd/dckd_deit-small_resnet18_8xb32_in1k.py'
LOGITS_BASE = 'configs/_base_/distill/logits_kd.py'
NUM_CLASSES = 10
DIM = 32
TINY_VIT = dict(type='VisionTransformer',
                arch=dict(embed_dims=DIM, num_layers=2, num_heads=2,
                          feedforward_channels=64),
                img_size=32, patch_size=8)
VIT_HEAD = dict(type='VisionTransformerClsHead', num_classes=NUM_CLASSES,
                in_channels=DIM)


def batch(n: int = 4, seed: int = 0, size: int = 32):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, size, size, generator=g)
    labels = torch.randint(0, NUM_CLASSES, (n, ), generator=g)
    return x, [DataSample().set_gt_label(int(y)) for y in labels]


def snapshot(module: torch.nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def assert_same(before: dict, module: torch.nn.Module) -> None:
    after = module.state_dict()
    for k, v in before.items():  # weights and buffers, bitwise
        assert torch.equal(v, after[k]), k


def save_teacher(cfg: dict, path) -> None:
    """Random teacher weights, every linear layer non-zero (a ViT head is
    zero-initialised by its init_cfg; a zero classifier would hide the
    gradient through the reused classifier)."""
    teacher = save_teacher_ckpt(cfg['teacher'], str(path))
    state = teacher.state_dict()
    assert all(v.abs().sum() > 0 for k, v in state.items()
               if k.endswith('head.weight') or k.endswith('fc.weight'))


# -- SimKD + DCKD, transformer teacher ---------------------------------------
def vit_teacher_cfg(tmp_path) -> dict:
    """The DeiT config's model with a tiny ViT teacher and a CIFAR ResNet-8
    student (64 channels at 8x8), projected to the teacher's 32 dims."""
    cfg = Config.fromfile(DEIT_CFG).model.to_dict()
    cfg['teacher']['backbone'] = copy.deepcopy(TINY_VIT)
    cfg['teacher']['head'].update(num_classes=NUM_CLASSES, in_channels=DIM)
    cfg['architecture']['backbone'] = dict(type='CifarResNet', arch='resnet8')
    cfg['architecture']['head'].update(num_classes=NUM_CLASSES,
                                       in_channels=DIM)
    cfg['architecture']['head']['projector'].update(in_channels=64,
                                                    out_channels=DIM)
    cfg['teacher_ckpt'] = str(tmp_path / 'teacher.pth')
    cfg['data_preprocessor'] = dict(
        type='mmpretrain.ClsDataPreprocessor', num_classes=NUM_CLASSES)
    save_teacher(cfg, cfg['teacher_ckpt'])
    return cfg


def test_vit_teacher_simkd_step_and_predict(tmp_path):
    algo = build_model(dict(vit_teacher_cfg(tmp_path), _scope_='mmrazor'))
    algo.init_weights()
    head, t_head = algo.student.head, algo.teacher.head
    # the reused classifier is the teacher's head.layers.head, frozen
    assert torch.equal(head.fc.weight, t_head.layers.head.weight)
    assert torch.equal(head.fc.bias, t_head.layers.head.bias)
    assert head.fc.weight.abs().sum() > 0
    assert not any(p.requires_grad for p in head.fc.parameters())
    algo.train()
    assert not algo.teacher.training
    teacher_before, fc_before = snapshot(algo.teacher), snapshot(head.fc)
    proj_before = snapshot(head.projector)
    optim = OptimWrapper(torch.optim.SGD(algo.parameters(), lr=0.1,
                                         momentum=0.9))
    x, samples = batch()
    losses = algo.loss(x, samples)
    assert set(losses) == {'distill.loss_feat', 'distill.loss_dckd'}
    assert all(torch.isfinite(v) for v in losses.values())

    # the feature loss is the MSE of the two classifier inputs, by hand:
    # the student's pooled projection and the teacher's final cls token
    with torch.no_grad():
        t_feat = algo.teacher.backbone(x)[-1]
        assert t_feat.shape == (4, DIM)
        t_logits = t_head.layers.head(t_feat)
        s_pooled = head.projector(algo.student.backbone(x)[-1]).mean((2, 3))
        s_logits = head.fc(s_pooled)
    assert (t_feat < 0).any()  # why the projector ends without ReLU
    assert (s_pooled < 0).any()
    torch.testing.assert_close(losses['distill.loss_feat'],
                               F.mse_loss(s_pooled, t_feat))
    labels = torch.tensor([s.gt_label.item() for s in samples])
    torch.testing.assert_close(losses['distill.loss_dckd'],
                               dckd_loss(s_logits, t_logits, labels))

    sum(losses.values()).backward()
    for name, p in algo.teacher.named_parameters():
        assert p.grad is None, name
    assert all(p.grad is not None and p.grad.abs().sum() > 0
               for p in head.projector.parameters())
    optim.step()
    assert_same(teacher_before, algo.teacher)
    assert_same(fc_before, head.fc)
    assert any(not torch.equal(v, head.projector.state_dict()[k])
               for k, v in proj_before.items() if v.is_floating_point())

    # predict: fc_T(GAP(projector(f_S))), the student alone
    algo.eval()
    data = algo.data_preprocessor(dict(inputs=x, data_samples=samples))
    with torch.no_grad():
        preds = algo(data['inputs'], copy.deepcopy(samples), mode='predict')
        f = algo.student.backbone(data['inputs'])[-1]
        manual = head.fc(head.projector(f).mean((2, 3)))
    torch.testing.assert_close(torch.stack([p.pred_score for p in preds]),
                               manual.softmax(1))
    assert head.target_hw.tolist() == [0, 0]  # a token, not a map


@pytest.mark.parametrize('teacher_head, backbone_type, match', [
    (dict(VIT_HEAD, hidden_dim=16), 'VisionTransformer',
     'VisionTransformerClsHead with hidden_dim=16'),
    (dict(VIT_HEAD, type='DeiTClsHead'), 'DistilledVisionTransformer',
     'DeiTClsHead with layers.head and layers.head_dist'),
], ids=['vit-hidden-dim', 'deit-distilled'])
def test_simkd_refuses_teachers_without_one_classifier(
        teacher_head, backbone_type, match, tmp_path):
    cfg = vit_teacher_cfg(tmp_path)
    cfg['teacher']['head'] = teacher_head
    cfg['teacher']['backbone']['type'] = backbone_type
    cfg['teacher_ckpt'] = None
    with pytest.raises(ConfigError, match=match):
        build_model(dict(cfg, _scope_='mmrazor'))


def test_recorder_on_missing_module_names_the_classifier(tmp_path):
    """The CNN skeleton's teacher recorder (head.fc) with a ViT teacher."""
    cfg = vit_teacher_cfg(tmp_path)
    cfg['distiller']['teacher_recorders']['logits']['source'] = 'head.fc'
    with pytest.raises(ConfigError, match=(
            r"teacher_recorders.logits: the teacher has no module 'head.fc' "
            r'\(its classifier is head.layers.head of '
            r'VisionTransformerClsHead, \(10, 32\)\)')):
        build_model(dict(cfg, _scope_='mmrazor'))
    cfg = vit_teacher_cfg(tmp_path)
    cfg['distiller']['student_recorders']['pooled']['source'] = 'head.cls'
    with pytest.raises(ConfigError, match="student has no module 'head.cls'"):
        build_model(dict(cfg, _scope_='mmrazor'))


# -- DCKD as a logit loss, any classifier pair -------------------------------
RESNET8 = dict(type='ImageClassifier',
               backbone=dict(type='CifarResNet', arch='resnet8'),
               neck=dict(type='GlobalAveragePooling'),
               head=dict(type='LinearClsHead', num_classes=NUM_CLASSES,
                         in_channels=64))
VIT = dict(type='ImageClassifier', backbone=TINY_VIT, neck=None,
           head=VIT_HEAD)
DEIT = dict(type='ImageClassifier',
            backbone=dict(TINY_VIT, type='DistilledVisionTransformer'),
            neck=None, head=dict(VIT_HEAD, type='DeiTClsHead'))
PAIRS = {  # (teacher, student, logits recorder of teacher, of student)
    'vit->resnet': (VIT, RESNET8, 'head.layers.head', 'head.fc'),
    'resnet->vit': (RESNET8, VIT, 'head.fc', 'head.layers.head'),
    'deit->resnet': (DEIT, RESNET8, 'head', 'head'),
    'vit->vit': (VIT, VIT, 'head', 'head'),
}


@pytest.mark.parametrize('pair', sorted(PAIRS))
def test_dckd_logits_between_any_classifiers(pair, tmp_path):
    teacher, student, t_src, s_src = copy.deepcopy(PAIRS[pair])
    cfg = Config.fromfile(LOGITS_BASE).model.to_dict()
    cfg['teacher'] = dict(teacher, _scope_='mmpretrain')
    cfg['architecture'] = dict(student, _scope_='mmpretrain')
    dist = cfg['distiller']
    dist['teacher_recorders']['fc']['source'] = t_src
    dist['student_recorders']['fc']['source'] = s_src
    dist['distill_losses'] = dict(loss_dckd=dict(type='DCKDLoss'))
    dist['loss_forward_mappings'] = dict(loss_dckd=dict(
        preds_S=dict(from_student=True, recorder='fc'),
        preds_T=dict(from_student=False, recorder='fc'),
        gt_labels=dict(from_student=True, recorder='gt_labels',
                       data_idx=1)))
    cfg['data_preprocessor'] = dict(
        type='mmpretrain.ClsDataPreprocessor', num_classes=NUM_CLASSES)
    cfg['teacher_ckpt'] = str(tmp_path / 'teacher.pth')
    save_teacher(cfg, cfg['teacher_ckpt'])
    algo = build_model(dict(cfg, _scope_='mmrazor'))
    algo.init_weights()
    algo.train()
    teacher_before = snapshot(algo.teacher)
    x, samples = batch()
    losses = algo.loss(x, samples)
    assert set(losses) == {'student.loss', 'distill.loss_dckd'}
    # the recorded logits are the models' own, whichever module holds them
    with torch.no_grad():
        algo.teacher.eval()
        t_logits = algo.teacher(x, mode='tensor')
        s_logits = algo.student(x, mode='tensor')
    labels = torch.tensor([s.gt_label.item() for s in samples])
    assert t_logits.abs().sum() > 0
    expected = dckd_loss(s_logits, t_logits, labels)
    assert expected > 0
    torch.testing.assert_close(losses['distill.loss_dckd'], expected)
    sum(losses.values()).backward()
    assert all(p.grad is None for p in algo.teacher.parameters())
    assert_same(teacher_before, algo.teacher)


def test_plain_distill_leaves_teacher_dropout_on(tmp_path):
    """mmrazor's behaviour that tools/train.py refuses (test_teacher_mode):
    SingleTeacherDistill puts only the teacher's BN layers in eval mode, so
    a transformer teacher built with drop_path_rate > 0 runs with
    stochastic depth (its logits differ between two calls)."""
    cfg = Config.fromfile(LOGITS_BASE).model.to_dict()
    cfg['teacher'] = dict(copy.deepcopy(VIT), _scope_='mmpretrain')
    cfg['teacher']['backbone']['drop_path_rate'] = 0.5
    cfg['architecture'] = dict(copy.deepcopy(RESNET8), _scope_='mmpretrain')
    cfg['distiller']['teacher_recorders']['fc']['source'] = 'head'
    cfg['data_preprocessor'] = dict(
        type='mmpretrain.ClsDataPreprocessor', num_classes=NUM_CLASSES)
    algo = build_model(dict(cfg, _scope_='mmrazor'))
    algo.train()
    assert algo.teacher.training and algo.teacher.backbone.layers[1].training
    x, _ = batch(n=16)
    torch.manual_seed(0)  # 16 samples: equal drop patterns have p = 2^-16
    with torch.no_grad():
        first, second = (algo.teacher(x, mode='tensor') for _ in range(2))
    assert not torch.equal(first, second)


# -- the ImageNet config, real architectures, small input --------------------
def test_deit_small_resnet18_config_step_and_predict(tmp_path):
    cfg = Config.fromfile(DEIT_CFG)
    assert cfg.model.teacher.backbone.arch == 'deit-small'
    assert cfg.model.teacher.head.type == 'VisionTransformerClsHead'
    model = cfg.model.to_dict()
    # test-only shrinking: 64-pixel images (4x4 patches for the teacher,
    # 2x2 for the student); the teacher keeps its 224-pixel position
    # embedding, which mmpretrain resizes to the input
    model['teacher_ckpt'] = str(tmp_path / 'teacher.pth')
    model['data_preprocessor'] = cfg.data_preprocessor.to_dict()
    save_teacher(model, model['teacher_ckpt'])
    algo = build_model(dict(model, _scope_='mmrazor'))
    algo.init_weights()
    head = algo.student.head
    assert torch.equal(head.fc.weight, algo.teacher.head.layers.head.weight)
    assert head.fc.weight.shape == (1000, 384)
    algo.train()
    teacher_before = snapshot(algo.teacher)
    optim = OptimWrapper(torch.optim.SGD(algo.parameters(), lr=0.1))
    x = torch.randint(0, 256, (2, 3, 64, 64)).float()
    samples = [DataSample().set_gt_label(y) for y in (3, 917)]
    data = algo.data_preprocessor(dict(inputs=x, data_samples=samples), True)
    losses = algo.loss(data['inputs'], data['data_samples'])
    assert set(losses) == {'distill.loss_feat', 'distill.loss_dckd'}
    assert all(torch.isfinite(v) and v > 0 for v in losses.values())
    optim.update_params(sum(losses.values()))
    assert_same(teacher_before, algo.teacher)
    assert torch.equal(head.fc.weight, algo.teacher.head.layers.head.weight)
    algo.eval()
    data = algo.data_preprocessor(dict(inputs=x, data_samples=samples))
    with torch.no_grad():
        preds = algo(data['inputs'], copy.deepcopy(samples), mode='predict')
        f = algo.student.backbone(data['inputs'])[-1]
        assert f.shape == (2, 512, 2, 2)
        manual = head.fc(head.projector(f).mean((2, 3)))
    scores = torch.stack([p.pred_score for p in preds])
    assert scores.shape == (2, 1000)
    torch.testing.assert_close(scores, manual.softmax(1))
