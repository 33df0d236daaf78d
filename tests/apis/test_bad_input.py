# Copyright (c) dckd_mm contributors. All rights reserved.
"""Bad input, one place: each case raises a clear error that names the
problem (and what to do), and leaves no partial output behind. Cases that
need a whole training run (resume, strict test, the teacher on resume, the
error surface of the tools) live beside this file in test_resume.py,
test_run.py and test_errors.py, the safe_load fuzz in
tests/compat/test_safe_loading_fuzz.py."""
import os.path as osp
import pickle

import numpy as np
import pytest
import torch
from mmengine.config import Config

import dckd_mm  # noqa: F401
from dckd_mm.apis import check_loss_options, check_teacher, preflight
from dckd_mm.compat import (CorruptCheckpointError, UntrustedCheckpointError,
                            safe_load)
from dckd_mm.datasets import DatasetError, SafeCIFAR100
from dckd_mm.models.losses import DCKDLoss, dckd_loss
from tests.helpers import (build_model, run_tool, save_teacher_ckpt,
                           write_cifar100)

DIGITS = 'configs/demo/dckd_resnet20_resnet8_1xb64_digits.py'
CIFAR = 'configs/dckd/dckd_resnet32x4_resnet8x4_1xb64_cifar100.py'
IMAGENET = 'configs/dckd/dckd_resnet34_resnet18_8xb32_in1k.py'
DETECTION = ('configs/dckd/dckd_faster-rcnn-r101-fpn_faster-rcnn-r50-fpn_'
             '8xb2-1x_coco.py')


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
    res = run_tool('tools/model_converters/convert_repdistiller_ckpt.py',
                   str(tmp_path / 'r8.pth'), str(tmp_path / 'o.pth'),
                   '--arch', 'wrn_16_2')
    assert res.returncode == 2 and 'nothing was written' in res.stderr
    assert not (tmp_path / 'o.pth').exists()


def case_missing_imagenet(tmp_path):
    cfg = Config.fromfile(IMAGENET)
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
    cfg = Config.fromfile(DETECTION)
    model = cfg.model.to_dict()
    model['teacher_ckpt'] = None
    model['architecture']['roi_head']['bbox_head']['loss_cls'] = dict(
        type='mmdet.FocalLoss', use_sigmoid=True)
    with pytest.raises(TypeError, match='softmax'):
        build_model(ConfigDict(model), 'mmdet')


def _pickle_cifar(tmp_path, data, labels) -> str:
    root = write_cifar100(str(tmp_path))
    with open(osp.join(root, 'cifar-100-python', 'train'), 'wb') as f:
        pickle.dump({'data': data, 'fine_labels': labels}, f)
    return root


def case_float_cifar_labels(tmp_path):
    root = _pickle_cifar(tmp_path, np.zeros((2, 3072), np.uint8), [1.0, 2.7])
    with pytest.raises(DatasetError, match='not integer class indices'):
        SafeCIFAR100(data_root=root, verify_md5=False)


def case_float_cifar_images(tmp_path):
    root = _pickle_cifar(tmp_path, np.full((2, 3072), 0.5, np.float32),
                         [1, 2])
    with pytest.raises(DatasetError, match='convert them to uint8'):
        SafeCIFAR100(data_root=root, verify_md5=False)


def case_nan_teacher_weights(tmp_path):
    model = simkd_cfg(tmp_path)
    ckpt = torch.load(model['teacher_ckpt'])
    key = next(iter(k for k, v in ckpt['state_dict'].items()
                    if v.is_floating_point()))
    ckpt['state_dict'][key].fill_(float('inf'))
    torch.save(ckpt, model['teacher_ckpt'])
    with pytest.raises(ValueError, match='NaN or Inf'):
        build_model(model)


def case_empty_teacher_ckpt(tmp_path):
    cfg = Config.fromfile(DIGITS)
    for value in ('', None, '  '):
        cfg.model.teacher_ckpt = value
        with pytest.raises(ValueError, match='randomly initialised'):
            check_teacher(cfg)


def case_negative_dckd_weight(tmp_path):
    cfg = Config.fromfile(DIGITS)
    cfg.model.distiller.distill_losses.loss_dckd.alpha = -1.0
    with pytest.raises(ValueError, match=r'loss_dckd\.alpha = -1\.0: alpha '
                       'must be a finite number >= 0'):
        check_loss_options(cfg)


def case_empty_checkpoint_file(tmp_path):
    (tmp_path / 'e.pth').write_bytes(b'')
    with pytest.raises(CorruptCheckpointError, match='corrupt'):
        safe_load(str(tmp_path / 'e.pth'))


def case_truncated_legacy_checkpoint(tmp_path):
    torch.save({'w': torch.arange(100.0)}, tmp_path / 'l.pth',
               _use_new_zipfile_serialization=False)
    data = (tmp_path / 'l.pth').read_bytes()
    (tmp_path / 'l.pth').write_bytes(data[:len(data) // 2])
    with pytest.raises(CorruptCheckpointError, match='truncated'):
        safe_load(str(tmp_path / 'l.pth'))


def case_text_file_as_checkpoint(tmp_path):
    (tmp_path / 't.pth').write_text('epoch 3, loss 0.5\n')
    with pytest.raises(CorruptCheckpointError, match='not a PyTorch'):
        safe_load(str(tmp_path / 't.pth'))


def case_hostile_raw_pickle(tmp_path):
    import builtins

    class Evil:

        def __reduce__(self):
            return (builtins.open, (str(tmp_path / 'pwned'), 'w'))

    (tmp_path / 'raw.pth').write_bytes(pickle.dumps({'x': Evil()}))
    with pytest.raises(UntrustedCheckpointError, match='untrusted'):
        safe_load(str(tmp_path / 'raw.pth'))
    assert not (tmp_path / 'pwned').exists()


def case_failed_write_leaves_no_partial(tmp_path):
    from unittest import mock

    from dckd_mm.utils.atomic import atomic_save

    def full_disk(obj, f, *args, **kwargs):
        f.write(b'half')  # the temporary file, open for writing
        raise OSError(28, 'No space left on device')

    with mock.patch('torch.save', full_disk):
        with pytest.raises(OSError, match='No space'):
            atomic_save({'w': torch.zeros(1)}, str(tmp_path / 'o.pth'))
    assert list(tmp_path.iterdir()) == []


def case_space_in_cfg_options(tmp_path):
    import argparse

    from dckd_mm.apis import CfgOptionsAction
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction)
    with pytest.raises(SystemExit) as exc:
        parser.parse_args(['--cfg-options', 'data_root=my data/'])
    assert exc.value.code == 2
    assert parser.parse_args(['--cfg-options', 'a=[1, 2]']).cfg_options == {
        'a': [1, 2]}


CASES = [v for k, v in sorted(globals().items()) if k.startswith('case_')]


def test_at_least_thirty_cases():
    assert len(CASES) >= 30


# cases that build a detector need mmdet and mmcv's compiled ops
DETECTION_CASES = {case_sigmoid_detection_head}


@pytest.mark.parametrize('case', [
    pytest.param(c, marks=pytest.mark.detection)
    if c in DETECTION_CASES else c for c in CASES
], ids=lambda f: f.__name__[5:])
def test_bad_input(case, tmp_path):
    case(tmp_path)
