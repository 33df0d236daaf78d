# Copyright (c) dckd_mm contributors. All rights reserved.
"""The launcher's checks for detection configs: mmcv's CUDA ops on a GPU
machine, AMP on the CPU, missing COCO data or teacher."""
import pytest
import torch
from mmengine.config import Config

import dckd_mm  # noqa: F401
from tests.fixtures.coco import CONFIGS, R18

# needs mmdet and mmcv's compiled ops (not on the oldest lane)
pytestmark = pytest.mark.detection


def test_gpu_without_mmcv_cuda_ops_is_refused(monkeypatch):
    import mmcv.ops

    from dckd_mm.apis.checks import check_mmcv_cuda
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(mmcv.ops, 'get_compiling_cuda_version',
                        lambda: 'not available')
    with pytest.raises(RuntimeError, match='FORCE_CUDA=1'):
        check_mmcv_cuda()
    monkeypatch.setattr(mmcv.ops, 'get_compiling_cuda_version',
                        lambda: '12.4')
    check_mmcv_cuda()


def test_amp_on_cpu_is_refused_for_detection():
    from dckd_mm.apis import load_config
    if torch.cuda.is_available():
        pytest.skip('the refusal is for CPU runs')
    with pytest.raises(ValueError, match='BFloat16'):
        load_config(R18, amp=True)
    # also when the config already asks for AmpOptimWrapper
    with pytest.raises(ValueError, match='BFloat16'):
        load_config(R18, cfg_options={'optim_wrapper.type':
                                      'AmpOptimWrapper'}, amp=True)


def test_missing_coco_or_teacher_is_clear(tmp_path):
    from dckd_mm.apis import preflight
    from dckd_mm.datasets import DatasetError
    cfg = Config.fromfile(CONFIGS[0])
    cfg.model.teacher_ckpt = None
    cfg.train_dataloader.dataset.data_root = str(tmp_path) + '/'
    with pytest.raises(DatasetError, match='instances_train2017.json'):
        preflight(cfg)
    # a missing detection teacher points to mmdet checkpoints, not to the
    # CIFAR zoo
    cfg.model.teacher_ckpt = str(tmp_path / 'faster-rcnn_r101.pth')
    with pytest.raises(FileNotFoundError) as err:
        preflight(cfg)
    assert 'mmdet checkpoint' in str(err.value)
    assert 'configs/zoo' not in str(err.value)
