# Copyright (c) dckd_mm contributors. All rights reserved.
"""RepDistiller/CRD/mdistiller/SimKD files convert exactly or are refused.

The files are written by the tests in the key layout of
docs/reference_models.md (random weights, random BN statistics), in each
upstream format. Expected logits come from :func:`upstream_features` and
:func:`upstream_simkd_logits` below, which spell out the upstream forward
passes (RepDistiller's and SimKD's ``model(x, is_feat=True)``, SimKD's
``models/util.py``) module by module, independently of the zoo's feature
taps and of the converter's own self-check.
"""
import argparse
import os
from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import dckd_mm  # noqa: F401
from dckd_mm.compat import safe_load
from dckd_mm.converters import ConversionError, convert_file
from dckd_mm.models.zoo import (CIFAR_ZOO, cifar_classifier_cfg,
                                simkd_student_cfg)
from tests.helpers import build_model
from tests.helpers import run_tool as run_tool_in_process

TOOL = 'tools/model_converters/convert_repdistiller_ckpt.py'

# One architecture per family (docs/simkd_students.md).
FAMILIES = {
    'resnet': 'resnet8x4',
    'resnet50': 'ResNet50',
    'wrn': 'wrn_16_2',
    'vgg': 'vgg8',
    'mobilenetv2': 'MobileNetV2',
    'shufflev1': 'ShuffleV1',
    'shufflev2': 'ShuffleV2',
}

# The paper's 13 DCKD pairs (teacher, student).
PAIRS = [('resnet110', 'resnet32'), ('resnet110x2', 'ShuffleV2_1_5'),
         ('resnet32x4', 'ShuffleV1'), ('resnet32x4', 'ShuffleV2'),
         ('resnet32x4', 'wrn_40_2'), ('resnet38x2', 'resnet8x4'),
         ('resnet56', 'resnet20'), ('ResNet50', 'MobileNetV2'),
         ('vgg13', 'vgg8'), ('wrn_40_2', 'resnet8x4'),
         ('wrn_40_2', 'ShuffleV1'), ('wrn_40_2', 'wrn_40_1'),
         ('resnet32x4', 'resnet8x4')]

# RepDistiller / SimKD transforms.Normalize (after ToTensor).
UPSTREAM_MEAN = (0.5071, 0.4867, 0.4408)
UPSTREAM_STD = (0.2675, 0.2565, 0.2761)


def run_tool(*args):
    return run_tool_in_process(TOOL, *args)


def randomized(model: nn.Module, seed: int) -> nn.Module:
    """Random BN statistics and affine terms, so that a wrong (or
    skipped) BN changes the logits; eval mode."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(
                    torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(
                    torch.rand(m.running_var.shape, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
    return model.eval()


def zoo_model(arch: str, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return randomized(build_model(cifar_classifier_cfg(arch)), seed)


def repdistiller_state(model, arch):
    """Our model's weights in RepDistiller's key layout."""
    cls_key = CIFAR_ZOO[arch].classifier_key
    out = OrderedDict()
    for k, v in model.state_dict().items():
        if k.startswith('backbone.'):
            out[k[len('backbone.'):]] = v.clone()
        elif k.startswith('head.fc.'):
            out[cls_key + '.' + k[len('head.fc.'):]] = v.clone()
    return out


def upstream_features(model, arch, x):
    """``(feat[-2], pooled map)`` of the upstream forward, written out per
    family from RepDistiller's / SimKD's ``forward(x, is_feat=True)``."""
    b = model.backbone
    family = CIFAR_ZOO[arch].family
    if family == 'wrn':  # f3 = block3(...); only the pool sees bn1 + ReLU
        f = b.block3(b.block2(b.block1(b.conv1(x))))
        return f, F.relu(b.bn1(f))
    if family == 'mobilenetv2':  # f4 = blocks[6](...); conv2 feeds the pool
        f = b.conv1(x)
        for block in b.blocks:
            f = block(f)
        return f, b.conv2(f)
    if family == 'vgg':
        f = F.relu(b.block0(x))
        for i in range(1, 5):
            if i < 4:
                f = getattr(b, f'pool{i - 1}')(f)
            f = F.relu(getattr(b, f'block{i}')(f))
        return f, f
    f = F.relu(b.bn1(b.conv1(x)))
    for i in range(1, 5 if family == 'resnet50' else 4):
        f = getattr(b, f'layer{i}')(f)
    if family == 'shufflev2':  # f3 = layer3(...); conv2/bn2 feed the pool
        return f, F.relu(b.bn2(b.conv2(f)))
    return f, f


def upstream_logits(model, arch, x):
    return model.head.fc(upstream_features(model, arch, x)[1].mean((2, 3)))


def simkd_transfer(s_n: int, t_n: int, seed: int) -> nn.Sequential:
    """SimKD's ``transfer`` (``models/util.py``, factor 2), random."""
    torch.manual_seed(seed)
    mid = t_n // 2
    return randomized(
        nn.Sequential(
            nn.Conv2d(s_n, mid, 1, bias=False), nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True), nn.Conv2d(mid, mid, 3, padding=1,
                                             bias=False),
            nn.BatchNorm2d(mid), nn.ReLU(inplace=True),
            nn.Conv2d(mid, t_n, 1, bias=False), nn.BatchNorm2d(t_n),
            nn.ReLU(inplace=True)), seed)


def upstream_simkd_logits(student, s_arch, transfer, teacher, t_arch, x):
    """SimKD's ``pred_feat_s``: align feat_s[-2] to feat_t[-2]'s size,
    transfer, average-pool, teacher classifier."""
    feat_s, _ = upstream_features(student, s_arch, x)
    feat_t, _ = upstream_features(teacher, t_arch, x)
    if feat_s.shape[2] > feat_t.shape[2]:
        side = feat_t.shape[2]
        feat_s = F.adaptive_avg_pool2d(feat_s, (side, side))
    return teacher.head.fc(transfer(feat_s).mean((2, 3)))


def write_simkd_pair(tmp_path, teacher_arch, student_arch, seed=0,
                     proj_channels=None, dataparallel=False):
    """A SimKD student file (``model`` + ``proj``) and its teacher file, as
    SimKD's train_student.py / RepDistiller's train_teacher.py save
    them."""
    teacher = zoo_model(teacher_arch, seed)
    student = zoo_model(student_arch, seed + 1)
    x = torch.zeros(1, 3, 32, 32)
    with torch.no_grad():
        s_n = upstream_features(student, student_arch, x)[0].shape[1]
        t_n = upstream_features(teacher, teacher_arch, x)[0].shape[1]
    transfer = simkd_transfer(proj_channels or s_n, t_n, seed + 2)
    s_state = repdistiller_state(student, student_arch)
    if dataparallel:
        s_state = OrderedDict(('module.' + k, v) for k, v in s_state.items())
    proj = OrderedDict(('transfer.' + k, v.clone())
                       for k, v in transfer.state_dict().items())
    src = tmp_path / f'{student_arch}_best.pth'
    t_src = tmp_path / f'{teacher_arch}_best.pth'
    torch.save({'epoch': 240, 'model': s_state, 'best_acc': 75.0,
                'proj': proj}, src)
    torch.save({'epoch': 240, 'model': repdistiller_state(
        teacher, teacher_arch), 'best_acc': 79.0,
        'optimizer': {'state': {}, 'param_groups': []}}, t_src)
    return src, t_src, student, transfer, teacher


def test_documented_key_layout():
    m = build_model(cifar_classifier_cfg('resnet8x4'))
    keys = list(repdistiller_state(m, 'resnet8x4').items())
    assert keys[0][0] == 'conv1.weight' and keys[0][1].shape == (32, 3, 3, 3)
    names = [k for k, _ in keys]
    assert names[names.index('bn1.weight') + 5] == 'layer1.0.conv1.weight'
    assert names[-7:-2] == [
        'layer3.0.downsample.1.weight', 'layer3.0.downsample.1.bias',
        'layer3.0.downsample.1.running_mean',
        'layer3.0.downsample.1.running_var',
        'layer3.0.downsample.1.num_batches_tracked'
    ]
    assert names[-2:] == ['fc.weight', 'fc.bias']
    m = build_model(cifar_classifier_cfg('wrn_40_2'))
    names = list(repdistiller_state(m, 'wrn_40_2'))
    assert names[:3] == ['conv1.weight', 'block1.layer.0.bn1.weight',
                         'block1.layer.0.bn1.bias']
    assert 'block1.layer.0.convShortcut.weight' in names
    assert names[-7] == 'bn1.weight' and names[-2:] == ['fc.weight',
                                                        'fc.bias']
    m = build_model(cifar_classifier_cfg('wrn_40_1'))
    assert 'block1.layer.0.convShortcut.weight' not in repdistiller_state(
        m, 'wrn_40_1')


@pytest.mark.parametrize('family', sorted(FAMILIES))
def test_plain_classifier_every_family_and_format(family, tmp_path):
    """RepDistiller/CRD ``*_best.pth``, ``*_last.pth`` (pickled options,
    DataParallel keys) and mdistiller (``module.student.``) files."""
    arch = FAMILIES[family]
    src_model = zoo_model(arch, 0)
    state = repdistiller_state(src_model, arch)
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        expected = upstream_logits(src_model, arch, x)
    formats = {
        'best': ({'epoch': 240, 'model': state, 'best_acc': 77.0,
                  'accuracy': torch.tensor([77.0]),
                  'optimizer': {'state': {}, 'param_groups': []}}, []),
        'last': ({'epoch': 240, 'opt': argparse.Namespace(model=arch),
                  'model': OrderedDict(('module.' + k, v)
                                       for k, v in state.items())}, []),
        'mdistiller': ({'epoch': 3, 'model': OrderedDict(
            ('module.student.' + k, v) for k, v in state.items())},
            ['--part', 'student']),
    }
    for name, (ckpt, extra) in formats.items():
        src, dst = tmp_path / f'{name}.pth', tmp_path / f'{name}_out.pth'
        torch.save(ckpt, src)
        proc = run_tool(str(src), str(dst), '--arch', arch, *extra)
        assert proc.returncode == 0, (name, proc.stderr[-2000:])
        assert 'logits equal the upstream computation' in proc.stdout
        out = safe_load(str(dst))
        assert set(out) == {'state_dict', 'meta'}
        assert out['meta']['arch'] == arch
        assert out['meta']['self_check_max_abs_diff'] <= 1e-3
        model = build_model(cifar_classifier_cfg(arch)).eval()
        model.load_state_dict(out['state_dict'], strict=True)
        with torch.no_grad():
            torch.testing.assert_close(model(x, mode='tensor'), expected)
    assert safe_load(str(tmp_path / 'best_out.pth'))['meta']['epoch'] == 240


def test_mdistiller_file_needs_part(tmp_path):
    m, t = zoo_model('resnet8', 0), zoo_model('resnet32', 1)
    state = OrderedDict()
    for k, v in repdistiller_state(m, 'resnet8').items():
        state['module.student.' + k] = v
    for k, v in repdistiller_state(t, 'resnet32').items():
        state['module.teacher.' + k] = v
    src = tmp_path / 'mdistiller.pth'
    torch.save({'model': state, 'epoch': 3}, src)
    out = convert_file(str(src), 'resnet8', part='student').state_dict
    assert torch.equal(out['backbone.conv1.weight'],
                       m.state_dict()['backbone.conv1.weight'])
    proc = run_tool(str(src), str(tmp_path / 'x.pth'), '--arch', 'resnet8')
    assert proc.returncode == 2 and 'unexpected key' in proc.stderr


@pytest.mark.parametrize('pair', PAIRS, ids=lambda p: f'{p[0]}-{p[1]}')
def test_simkd_student_of_every_pair_converts_exactly(pair, tmp_path):
    teacher_arch, student_arch = pair
    src, t_src, student, transfer, teacher = write_simkd_pair(
        tmp_path, teacher_arch, student_arch,
        dataparallel=student_arch == 'ShuffleV1')
    result = convert_file(str(src), student_arch, teacher_src=str(t_src),
                          teacher_arch=teacher_arch)
    out, cfg, meta = result.state_dict, result.model_cfg, result.meta
    assert cfg == simkd_student_cfg(student_arch, teacher_arch)
    assert meta['teacher_arch'] == teacher_arch
    deployed = build_model(cfg).eval()
    deployed.load_state_dict(out, strict=True)
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        expected = upstream_simkd_logits(student, student_arch, transfer,
                                         teacher, teacher_arch, x)
        got = deployed(x, mode='tensor')
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
    assert torch.equal(out['head.fc.weight'], teacher.head.fc.weight)


def test_simkd_tool_needs_teacher_and_writes(tmp_path):
    src, t_src, student, transfer, teacher = write_simkd_pair(
        tmp_path, 'wrn_40_2', 'wrn_40_1')
    dst = tmp_path / 'o.pth'
    proc = run_tool(str(src), str(dst), '--arch', 'wrn_40_1')
    assert proc.returncode == 2 and '--teacher' in proc.stderr
    assert not dst.exists()
    proc = run_tool(str(src), str(dst), '--arch', 'wrn_40_1', '--teacher',
                    str(t_src), '--teacher-arch', 'wrn_40_2')
    assert proc.returncode == 0, proc.stderr[-2000:]
    deployed = build_model(simkd_student_cfg('wrn_40_1', 'wrn_40_2')).eval()
    deployed.load_state_dict(safe_load(str(dst))['state_dict'], strict=True)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(
            deployed(x, mode='tensor'),
            upstream_simkd_logits(student, 'wrn_40_1', transfer, teacher,
                                  'wrn_40_2', x), rtol=1e-4, atol=1e-4)


def test_refuses_projector_trained_on_another_map(tmp_path):
    """A ShuffleV2 projector that reads the pooled 1024-channel map is not
    SimKD's: refused, naming the tap, nothing written."""
    src, t_src, *_ = write_simkd_pair(tmp_path, 'resnet32x4', 'ShuffleV2',
                                      proj_channels=1024)
    dst = tmp_path / 'o.pth'
    proc = run_tool(str(src), str(dst), '--arch', 'ShuffleV2', '--teacher',
                    str(t_src), '--teacher-arch', 'resnet32x4')
    assert proc.returncode == 2 and not dst.exists()
    assert 'reads 1024 channels' in proc.stderr
    assert '464' in proc.stderr and 'before conv2' in proc.stderr


def test_refuses_projector_that_misses_the_teacher(tmp_path):
    src, _, *_ = write_simkd_pair(tmp_path, 'resnet32x4', 'resnet8x4')
    other = tmp_path / 'other'
    other.mkdir()
    _, t_src, *_ = write_simkd_pair(other, 'wrn_40_2', 'resnet8')
    with pytest.raises(ConversionError, match='outputs 256 channels.*'
                       'takes 128'):
        convert_file(str(src), 'resnet8x4', teacher_src=str(t_src),
                     teacher_arch='wrn_40_2')
    with pytest.raises(ConversionError, match='does not convert exactly to '
                       'teacher resnet32x4'):
        convert_file(str(src), 'resnet8x4', teacher_src=str(t_src),
                     teacher_arch='resnet32x4')


def test_refuses_teacher_whose_tap_is_not_its_classifier_input(tmp_path):
    src, t_src, *_ = write_simkd_pair(tmp_path, 'ShuffleV2', 'resnet8')
    with pytest.raises(ConversionError, match='cannot reuse the classifier'
                       ' of ShuffleV2'):
        convert_file(str(src), 'resnet8', teacher_src=str(t_src),
                     teacher_arch='ShuffleV2')


def test_self_check_catches_what_keys_cannot(tmp_path, monkeypatch):
    """A WRN student tapped after the final BN + ReLU has exactly the same
    keys as SimKD's; only the logit self-check can refuse it."""
    import dckd_mm.converters.repdistiller as convert
    import dckd_mm.models.zoo as zoo
    src, t_src, *_ = write_simkd_pair(tmp_path, 'wrn_40_2', 'wrn_40_1')
    wrong = dict(zoo.simkd_student_cfg('wrn_40_1', 'wrn_40_2'))
    wrong['backbone'] = dict(wrong['backbone'], out_indices=(4, ))
    monkeypatch.setattr(convert, 'simkd_student_cfg',
                        lambda *args, **kwargs: wrong)
    dst = tmp_path / 'o.pth'
    proc = run_tool(str(src), str(dst), '--arch', 'wrn_40_1', '--teacher',
                    str(t_src), '--teacher-arch', 'wrn_40_2')
    assert proc.returncode == 2 and not dst.exists()
    assert 'logit self-check failed' in proc.stderr
    assert 'nothing was written' in proc.stderr


def test_refuses_partial_conversion(tmp_path):
    m = build_model(cifar_classifier_cfg('resnet8'))
    state = repdistiller_state(m, 'resnet8')
    del state['layer3.0.conv2.weight']
    src, dst = tmp_path / 'bad.pth', tmp_path / 'out.pth'
    torch.save({'model': state}, src)
    proc = run_tool(str(src), str(dst), '--arch', 'resnet8')
    assert proc.returncode == 2
    assert 'missing key' in proc.stderr and 'nothing was written' in \
        proc.stderr
    assert not dst.exists()
    # wrong arch: shapes differ
    proc = run_tool(str(src), str(dst), '--arch', 'resnet8x4')
    assert proc.returncode == 2 and not dst.exists()


def test_state_dict_found_as_the_checkpoint_helpers_find_it(tmp_path):
    """The converter reads the state dict with ``extract_state_dict``:
    ``'net'`` and bare state dicts convert like ``'model'``; a file
    without one is refused with ``ConversionError``, naming its keys."""
    m = zoo_model('resnet8', 0)
    state = repdistiller_state(m, 'resnet8')
    for i, ckpt in enumerate([{'net': state, 'acc': 70.0}, state]):
        torch.save(ckpt, tmp_path / f'{i}.pth')
        out = convert_file(str(tmp_path / f'{i}.pth'), 'resnet8').state_dict
        assert torch.equal(out['head.fc.weight'], state['fc.weight'])
    refused = [({'epoch': 3, 'best_acc': 70.0}, "['best_acc', 'epoch']"),
               ({'model': {}}, "['model']")]
    for ckpt, keys in refused:
        torch.save(ckpt, tmp_path / 'none.pth')
        with pytest.raises(ConversionError, match='no state dict found') as e:
            convert_file(str(tmp_path / 'none.pth'), 'resnet8')
        assert f'among the keys {keys}.' in str(e.value)
    proc = run_tool(str(tmp_path / 'none.pth'), str(tmp_path / 'o.pth'),
                    '--arch', 'resnet8')
    assert proc.returncode == 2 and 'no state dict found' in proc.stderr
    assert not (tmp_path / 'o.pth').exists()


def test_refuses_untrusted_source(tmp_path):
    import builtins

    class Evil:

        def __reduce__(self):
            return (builtins.open, (str(tmp_path / 'pwned'), 'w'))

    src = tmp_path / 'evil.pth'
    torch.save({'model': {'w': torch.zeros(1)}, 'x': Evil()}, src)
    proc = run_tool(str(src), str(tmp_path / 'o.pth'), '--arch', 'resnet8')
    assert proc.returncode == 2 and 'untrusted' in proc.stderr
    assert not (tmp_path / 'pwned').exists()
    with pytest.raises(ConversionError, match='unknown arch'):
        from dckd_mm.converters import convert_repdistiller
        convert_repdistiller({}, 'resnet9')


def raw_images(n: int = 6, seed: int = 0) -> np.ndarray:
    """uint8 ``(n, 32, 32, 3)`` images in CIFAR-100's channel order."""
    return np.random.RandomState(seed).randint(0, 256, (n, 32, 32, 3),
                                               dtype=np.uint8)


def upstream_input(images: np.ndarray) -> torch.Tensor:
    """ToTensor + Normalize, as RepDistiller/SimKD feed their models."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    mean = torch.tensor(UPSTREAM_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(UPSTREAM_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def test_config_out_runs_in_mmpretrain_on_raw_images(tmp_path):
    """--config-out: init_model and ImageClassificationInferencer on the
    written pair predict what the upstream student does on raw uint8
    images."""
    from mmengine.config import Config
    from mmpretrain.apis import ImageClassificationInferencer, init_model
    src, t_src, student, transfer, teacher = write_simkd_pair(
        tmp_path, 'resnet32x4', 'ShuffleV2')
    dst, cfg_out = tmp_path / 'deploy.pth', tmp_path / 'deploy' / 'cfg.py'
    proc = run_tool(str(src), str(dst), '--arch', 'ShuffleV2', '--teacher',
                    str(t_src), '--teacher-arch', 'resnet32x4',
                    '--config-out', str(cfg_out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    cfg = Config.fromfile(str(cfg_out))
    assert cfg.model.head.student_arch == 'ShuffleV2'
    assert cfg.model.backbone.out_indices == (3, )
    images = raw_images()
    with torch.no_grad():
        expected = upstream_simkd_logits(student, 'ShuffleV2', transfer,
                                         teacher, 'resnet32x4',
                                         upstream_input(images))
    expected_scores = expected.softmax(1)

    model = init_model(str(cfg_out), str(dst), device='cpu')
    assert len(model._dataset_meta['classes']) == 100
    data = model.data_preprocessor(
        dict(inputs=[torch.from_numpy(i).permute(2, 0, 1) for i in images]))
    with torch.no_grad():
        logits = model(data['inputs'], mode='tensor')
    torch.testing.assert_close(logits, expected, rtol=1e-4, atol=1e-4)

    inferencer = ImageClassificationInferencer(
        str(cfg_out), pretrained=str(dst), device='cpu')
    results = inferencer(list(images), batch_size=3)
    scores = torch.stack([torch.as_tensor(r['pred_scores'])
                          for r in results]).float()
    torch.testing.assert_close(scores, expected_scores, rtol=1e-4,
                               atol=1e-5)
    assert [r['pred_label'] for r in results] == \
        expected.argmax(1).tolist()
    assert results[0]['pred_class'] == model._dataset_meta['classes'][
        results[0]['pred_label']]


# -- every output checked before anything is converted or written --


def _plain_source(tmp_path) -> str:
    src = tmp_path / 'resnet8_best.pth'
    torch.save({'epoch': 240,
                'model': repdistiller_state(zoo_model('resnet8', 0),
                                            'resnet8')}, src)
    return str(src)


def test_config_out_of_an_unknown_format_writes_nothing(tmp_path):
    """D10: `--config-out x.txt` failed (`Unsupported format: txt`) after
    the checkpoint was written."""
    src, dst = _plain_source(tmp_path), tmp_path / 'out' / 'r8.pth'
    proc = run_tool(src, str(dst), '--arch', 'resnet8', '--config-out',
                    str(tmp_path / 'out' / 'x.txt'))
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.startswith(f"error: config {tmp_path / 'out'}/x.txt:"
                                  ' name a .py, .json or .yaml file')
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        'resnet8_best.pth'
    ]


@pytest.mark.parametrize('which', ['dst', 'config-out'])
def test_an_output_that_is_a_folder_writes_nothing(tmp_path, which):
    """D10/D11: a folder under an output name was a traceback (exit 1)
    after the conversion, and with --config-out the checkpoint was
    already written."""
    src = _plain_source(tmp_path)
    dst, cfg = tmp_path / 'r8.pth', tmp_path / 'r8.py'
    (dst if which == 'dst' else cfg).mkdir()
    proc = run_tool(src, str(dst), '--arch', 'resnet8', '--config-out',
                    str(cfg))
    assert proc.returncode == 2, proc.stderr[-2000:]
    what = 'checkpoint' if which == 'dst' else 'config'
    folder = dst if which == 'dst' else cfg
    assert proc.stderr.startswith(f'error: {what} {folder} is a folder')
    assert 'Traceback' not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        'r8.pth' if which == 'dst' else 'r8.py', 'resnet8_best.pth'
    ]
    assert list(folder.iterdir()) == []


def test_the_same_name_twice_writes_nothing(tmp_path):
    src, dst = _plain_source(tmp_path), tmp_path / 'r8.py'
    proc = run_tool(src, str(dst), '--arch', 'resnet8', '--config-out',
                    str(dst))
    assert proc.returncode == 2
    assert 'name two files' in proc.stderr and not dst.exists()


@pytest.mark.parametrize('n', ['0', '-3'])
def test_no_classes_is_refused(tmp_path, n):
    """D11: `--num-classes 0` was a traceback from the head's builder."""
    src, dst = _plain_source(tmp_path), tmp_path / 'r8.pth'
    proc = run_tool(src, str(dst), '--arch', 'resnet8', '--num-classes', n,
                    '--config-out', str(tmp_path / 'r8.py'))
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.startswith(f'error: --num-classes {n}: a classifier '
                                  'needs at least one class')
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        'resnet8_best.pth'
    ]


def test_checkpoint_and_config_are_written_together(tmp_path):
    """--config-out: both files land, or (here: a real full disk) both
    stay as they were."""
    from tests.fixtures.filesystems import tmpfs
    src = _plain_source(tmp_path)
    size = os.path.getsize(src)
    with tmpfs(str(tmp_path / 'D'), str(size + size // 2)) as out:
        dst, cfg = os.path.join(out, 'r8.pth'), os.path.join(out, 'r8.py')
        proc = run_tool(src, dst, '--arch', 'resnet8', '--config-out', cfg)
        assert proc.returncode == 0, proc.stderr[-2000:]
        old = {n: open(os.path.join(out, n), 'rb').read()
               for n in os.listdir(out)}
        assert sorted(old) == ['r8.pth', 'r8.py']
        proc = run_tool(src, dst, '--arch', 'resnet8', '--config-out', cfg)
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert proc.stderr.startswith(f'error: writing {dst} failed')
        assert {n: open(os.path.join(out, n), 'rb').read()
                for n in os.listdir(out)} == old
