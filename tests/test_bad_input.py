# Copyright (c) dckd_mm contributors. All rights reserved.
"""Bad input, one place: each case raises a clear error that names the
problem (and what to do), and leaves no partial output behind."""
import os.path as osp
import pickle

import pytest
import torch
from mmengine.config import Config

import dckd_mm  # noqa: F401
from dckd_mm.apis.launch import preflight
from dckd_mm.compat import (CorruptCheckpointError, UntrustedCheckpointError,
                            safe_load)
from dckd_mm.datasets import DatasetError, SafeCIFAR100
from dckd_mm.models.losses import DCKDLoss, dckd_loss
from tests.helpers import (build_model, run_tool, save_teacher_ckpt,
                           write_cifar100)

DIGITS = 'configs/digits/simkd_dckd_resnet20_resnet8_digits.py'
CIFAR = 'configs/dckd/res32x4_res8x4_cifar100.py'


def simkd_cfg(tmp_path, **changes):
    cfg = Config.fromfile(DIGITS)
    ckpt = str(tmp_path / 'teacher.pth')
    save_teacher_ckpt(cfg.model.teacher.to_dict(), ckpt)
    cfg.model.teacher_ckpt = ckpt
    model = cfg.model.to_dict()
    for path, value in changes.items():
        node = model
        *keys, last = path.split('.')
        for k in keys:
            node = node[k]
        node[last] = value
    return model


def case_missing_cifar(tmp_path):
    with pytest.raises(DatasetError, match='cifar-100-python.tar.gz'):
        SafeCIFAR100(data_root=str(tmp_path / 'none'))


def case_corrupt_cifar(tmp_path):
    root = write_cifar100(str(tmp_path))
    with open(osp.join(root, 'cifar-100-python', 'train'), 'wb') as f:
        f.write(b'\x80\x02}q\x00(X')
    with pytest.raises(DatasetError, match='not a valid CIFAR-100 pickle'):
        SafeCIFAR100(data_root=root, verify_md5=False)


def case_empty_dataset(tmp_path):
    root = write_cifar100(str(tmp_path))
    with open(osp.join(root, 'cifar-100-python', 'train'), 'wb') as f:
        pickle.dump({'data': torch.zeros(0, 3072).numpy(),
                     'fine_labels': []}, f)
    with pytest.raises(DatasetError, match='no images'):
        SafeCIFAR100(data_root=root, verify_md5=False)


def case_class_count_mismatch(tmp_path):
    model = simkd_cfg(tmp_path, **{'architecture.head.num_classes': 100})
    with pytest.raises(ValueError, match='num_classes'):
        build_model(model)


def case_projector_channels(tmp_path):
    model = simkd_cfg(tmp_path,
                      **{'architecture.head.projector.out_channels': 32})
    with pytest.raises(ValueError, match="projector's out_channels"):
        build_model(model)


def case_teacher_wrong_keys(tmp_path):
    model = simkd_cfg(tmp_path)
    torch.save({'state_dict': {'backbone.x': torch.zeros(1)}},
               tmp_path / 'bad.pth')
    model['teacher_ckpt'] = str(tmp_path / 'bad.pth')
    with pytest.raises(ValueError, match='does not fit'):
        build_model(model)


def case_teacher_missing(tmp_path):
    model = simkd_cfg(tmp_path)
    model['teacher_ckpt'] = str(tmp_path / 'nope.pth')
    with pytest.raises(FileNotFoundError, match='teacher_ckpt'):
        build_model(model)


def case_labels_out_of_range(tmp_path):
    with pytest.raises(ValueError, match=r'must lie in \[0, 10\)'):
        dckd_loss(torch.randn(4, 10), torch.randn(4, 10),
                  torch.tensor([0, 1, 2, 10]))


def case_tau_not_positive(tmp_path):
    with pytest.raises(ValueError, match='tau must be'):
        DCKDLoss(tau=0)


def case_unknown_mask_rule(tmp_path):
    with pytest.raises(ValueError, match='unknown mask rule'):
        DCKDLoss(mask='teacher_ge_student')


def case_nan_logits(tmp_path):
    s = torch.randn(4, 10)
    s[1, 2] = float('nan')
    with pytest.raises(ValueError, match='NaN or Inf'):
        dckd_loss(s, torch.randn(4, 10), torch.zeros(4, dtype=torch.long))


def case_soft_labels(tmp_path):
    with pytest.raises(ValueError, match='soft labels'):
        dckd_loss(torch.randn(4, 10), torch.randn(4, 10),
                  torch.softmax(torch.randn(4, 10), 1))


def case_unknown_type_in_config(tmp_path):
    model = simkd_cfg(tmp_path,
                      **{'distiller.distill_losses.loss_dckd.type':
                         'DCKDLos'})
    with pytest.raises(KeyError, match='DCKDLos is not in the'):
        build_model(model)


def case_untrusted_checkpoint(tmp_path):
    import builtins

    class Evil:

        def __reduce__(self):
            return (builtins.open, (str(tmp_path / 'pwned'), 'w'))

    torch.save({'x': Evil()}, tmp_path / 'evil.pth')
    with pytest.raises(UntrustedCheckpointError, match='untrusted'):
        safe_load(str(tmp_path / 'evil.pth'))
    assert not (tmp_path / 'pwned').exists()


def case_corrupt_checkpoint(tmp_path):
    (tmp_path / 'c.pth').write_bytes(b'PK\x03\x04 truncated')
    with pytest.raises(CorruptCheckpointError, match='corrupt'):
        safe_load(str(tmp_path / 'c.pth'))


def case_convert_wrong_arch(tmp_path):
    from dckd_mm.models.zoo import cifar_classifier_cfg
    m = build_model(cifar_classifier_cfg('resnet8'))
    state = {k.replace('backbone.', '').replace('head.fc', 'fc'): v
             for k, v in m.state_dict().items()}
    torch.save({'model': state}, tmp_path / 'r8.pth')
    res = run_tool('tools/convert_repdistiller_ckpt.py',
                   str(tmp_path / 'r8.pth'), str(tmp_path / 'o.pth'),
                   '--arch', 'wrn_16_2')
    assert res.returncode == 2 and 'nothing was written' in res.stderr
    assert not (tmp_path / 'o.pth').exists()


def case_missing_imagenet(tmp_path):
    cfg = Config.fromfile('configs/imagenet/dckd_res34_res18_8xb32_'
                          'imagenet.py')
    cfg.model.teacher_ckpt = None
    cfg.train_dataloader.dataset.data_root = str(tmp_path)
    with pytest.raises(DatasetError, match='never downloads'):
        preflight(cfg)


def case_train_without_data_writes_nothing(tmp_path):
    ckpt = str(tmp_path / 't.pth')
    save_teacher_ckpt(Config.fromfile(CIFAR).model.teacher.to_dict(), ckpt)
    work = tmp_path / 'work'
    res = run_tool('tools/train.py', CIFAR, '--work-dir', str(work),
                   '--cfg-options', f'model.teacher_ckpt={ckpt}')
    assert res.returncode == 2 and 'cifar-100-python/train' in res.stderr
    assert not work.exists()


def case_sigmoid_detection_head(tmp_path):
    from mmengine.config import ConfigDict
    cfg = Config.fromfile('configs/detection/'
                          'dckd_faster-rcnn_r101-r50_fpn_1x_coco.py')
    model = cfg.model.to_dict()
    model['teacher_ckpt'] = None
    model['architecture']['roi_head']['bbox_head']['loss_cls'] = dict(
        type='mmdet.FocalLoss', use_sigmoid=True)
    with pytest.raises(TypeError, match='softmax'):
        build_model(ConfigDict(model), 'mmdet')


CASES = [v for k, v in sorted(globals().items()) if k.startswith('case_')]


def test_at_least_fifteen_cases():
    assert len(CASES) >= 15


@pytest.mark.parametrize('case', CASES, ids=lambda f: f.__name__[5:])
def test_bad_input(case, tmp_path):
    case(tmp_path)
