# Copyright (c) dckd_mm contributors. All rights reserved.
"""RepDistiller/CRD/mdistiller/SimKD files convert strictly and keep the
logits. The files are written by the test in the exact key layout of
shared/REFERENCE_MODELS.md (random weights)."""
import argparse
from collections import OrderedDict

import pytest
import torch

import dckd_mm  # noqa: F401
from dckd_mm.compat import safe_load
from dckd_mm.models.zoo import CIFAR_ZOO, cifar_classifier_cfg
from dckd_mm.utils.convert import ConversionError, convert_file
from tests.helpers import build_model
from tests.helpers import run_tool as run_tool_in_process

TOOL = 'tools/convert_repdistiller_ckpt.py'


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


def run_tool(*args):
    return run_tool_in_process(TOOL, *args)


@pytest.mark.parametrize('arch', ['resnet8x4', 'wrn_16_1', 'vgg8',
                                  'MobileNetV2', 'ShuffleV2'])
def test_convert_keeps_logits(arch, tmp_path):
    torch.manual_seed(0)
    src_model = build_model(cifar_classifier_cfg(arch)).eval()
    state = repdistiller_state(src_model, arch)
    src = tmp_path / f'{arch}_best.pth'
    torch.save({'epoch': 240, 'model': state, 'best_acc': 77.0,
                'accuracy': torch.tensor([77.0]),
                'optimizer': {'state': {}, 'param_groups': []}}, src)
    dst = tmp_path / 'out.pth'
    proc = run_tool(str(src), str(dst), '--arch', arch)
    assert proc.returncode == 0, proc.stderr[-2000:]
    ckpt = safe_load(str(dst))
    assert set(ckpt) == {'state_dict', 'meta'}
    assert ckpt['meta']['arch'] == arch and ckpt['meta']['epoch'] == 240
    model = build_model(cifar_classifier_cfg(arch)).eval()
    model.load_state_dict(ckpt['state_dict'], strict=True)
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x, mode='tensor'),
                                   src_model(x, mode='tensor'))


def test_last_pth_with_namespace_and_dataparallel_prefix(tmp_path):
    m = build_model(cifar_classifier_cfg('resnet8'))
    state = OrderedDict(('module.' + k, v)
                        for k, v in repdistiller_state(m, 'resnet8').items())
    src = tmp_path / 'resnet8_last.pth'
    torch.save({'epoch': 240, 'model': state,
                'opt': argparse.Namespace(model='resnet8', lr=0.05)}, src)
    out, _, meta = convert_file(str(src), 'resnet8')
    assert 'backbone.conv1.weight' in out and meta['epoch'] == 240


def test_mdistiller_student_part(tmp_path):
    m = build_model(cifar_classifier_cfg('resnet8'))
    t = build_model(cifar_classifier_cfg('resnet32'))
    state = OrderedDict()
    for k, v in repdistiller_state(m, 'resnet8').items():
        state['module.student.' + k] = v
    for k, v in repdistiller_state(t, 'resnet32').items():
        state['module.teacher.' + k] = v
    src = tmp_path / 'mdistiller.pth'
    torch.save({'model': state, 'epoch': 3}, src)
    out, _, _ = convert_file(str(src), 'resnet8', part='student')
    assert torch.equal(out['backbone.conv1.weight'],
                       m.state_dict()['backbone.conv1.weight'])
    proc = run_tool(str(src), str(tmp_path / 'x.pth'), '--arch', 'resnet8')
    assert proc.returncode == 2 and 'unexpected key' in proc.stderr


def test_simkd_student_with_projector(tmp_path):
    from dckd_mm.utils.convert import simkd_student_cfg
    torch.manual_seed(0)
    teacher = build_model(cifar_classifier_cfg('resnet32x4')).eval()
    target = build_model(simkd_student_cfg('resnet8x4', 'resnet32x4')).eval()
    s_state = repdistiller_state(
        build_model(cifar_classifier_cfg('resnet8x4')), 'resnet8x4')
    for k, v in target.state_dict().items():
        if k.startswith('backbone.'):
            s_state[k[len('backbone.'):]] = v.clone()
    proj = OrderedDict(
        ('module.' + k[len('head.projector.'):], v.clone())
        for k, v in target.state_dict().items()
        if k.startswith('head.projector.'))
    src, t_src = tmp_path / 'student.pth', tmp_path / 'teacher.pth'
    torch.save({'model': s_state, 'proj': proj, 'epoch': 240}, src)
    torch.save({'model': repdistiller_state(teacher, 'resnet32x4')}, t_src)
    proc = run_tool(str(src), str(tmp_path / 'o.pth'), '--arch', 'resnet8x4')
    assert proc.returncode == 2 and '--teacher' in proc.stderr
    dst = tmp_path / 'o.pth'
    proc = run_tool(str(src), str(dst), '--arch', 'resnet8x4', '--teacher',
                    str(t_src), '--teacher-arch', 'resnet32x4')
    assert proc.returncode == 0, proc.stderr[-2000:]
    deployed = build_model(simkd_student_cfg('resnet8x4',
                                             'resnet32x4')).eval()
    deployed.load_state_dict(safe_load(str(dst))['state_dict'], strict=True)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        feat = target.backbone(x)[-1]
        expected = teacher.head.fc(target.head.projector(feat).mean((2, 3)))
        torch.testing.assert_close(deployed(x, mode='tensor'), expected)


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
        from dckd_mm.utils.convert import convert_repdistiller
        convert_repdistiller({}, 'resnet9')
