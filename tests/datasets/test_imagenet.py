# Copyright (c) dckd_mm contributors. All rights reserved.
"""ImageNet configs on an ImageNet-format folder made by the test (JPEGs,
meta/{train,val}.txt), with images shrunk through overrides only; the
torchvision ResNet converter round trip."""
import glob
import os
import os.path as osp

import numpy as np
import pytest
import torch
import torchvision
from mmengine.config import Config
from mmengine.runner import Runner
from PIL import Image

import dckd_mm  # noqa: F401
from dckd_mm.apis import preflight
from dckd_mm.converters import torchvision_resnet_cfg
from dckd_mm.datasets import DatasetError
from tests.helpers import build_model, run_name, run_tool, save_teacher_ckpt

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONVERTER = 'tools/model_converters/convert_torchvision_resnet.py'
CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', '*', '*_in1k.py')))


def write_imagenet(root: str, classes: int = 3, per_class: int = 2) -> str:
    rng = np.random.RandomState(0)
    os.makedirs(osp.join(root, 'meta'), exist_ok=True)
    for split in ('train', 'val'):
        os.makedirs(osp.join(root, split), exist_ok=True)
        lines = []
        for c in range(classes):
            for i in range(per_class):
                name = f'n{c:08d}_{i}.JPEG'
                img = rng.randint(0, 256, (40, 48, 3), dtype=np.uint8)
                Image.fromarray(img).save(osp.join(root, split, name),
                                          format='JPEG')
                lines.append(f'{name} {c}')
        with open(osp.join(root, 'meta', f'{split}.txt'), 'w') as f:
            f.write('\n'.join(lines) + '\n')
    return root


def test_names_and_recipe():
    names = [osp.basename(p) for p in CONFIGS]
    assert any('34' in n and '18' in n and 'in1k' in n and
               n.startswith('dckd') for n in names)
    assert len(CONFIGS) == 7
    cfg = Config.fromfile(CONFIGS[0])
    assert cfg.optim_wrapper.optimizer.lr == 0.1
    assert cfg.optim_wrapper.optimizer.weight_decay == 1e-4
    assert cfg.param_scheduler.milestones == [30, 60, 90]
    assert cfg.train_cfg.max_epochs == 120
    assert cfg.train_dataloader.batch_size == 32


@pytest.fixture(scope='module')
def imagenet_root(tmp_path_factory):
    return write_imagenet(str(tmp_path_factory.mktemp('imagenet')))


@pytest.mark.parametrize('config', CONFIGS, ids=osp.basename)
def test_config_trains_and_predicts(config, imagenet_root, tmp_path):
    cfg = Config.fromfile(config)
    cfg.work_dir = str(tmp_path / 'work')
    # test-only shrinking: 32-pixel crops, 2 images per batch, 1 epoch
    small_train = [
        dict(type='LoadImageFromFile'),
        dict(type='RandomResizedCrop', scale=32),
        dict(type='RandomFlip', prob=0.5, direction='horizontal'),
        dict(type='PackInputs'),
    ]
    small_test = [
        dict(type='LoadImageFromFile'),
        dict(type='ResizeEdge', scale=36, edge='short'),
        dict(type='CenterCrop', crop_size=32),
        dict(type='PackInputs'),
    ]
    for key, pipe in (('train_dataloader', small_train),
                      ('val_dataloader', small_test)):
        cfg[key].dataset.data_root = imagenet_root
        cfg[key].dataset.pipeline = pipe
        cfg[key].batch_size = 2
        cfg[key].num_workers = 0
    cfg.train_cfg = dict(by_epoch=False, max_iters=1, val_interval=1)
    cfg.param_scheduler = []
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    cfg.log_level = 'WARNING'
    ckpt = str(tmp_path / 'teacher.pth')
    save_teacher_ckpt(cfg.model.teacher.to_dict(), ckpt)
    cfg.model.teacher_ckpt = ckpt
    cfg.experiment_name = run_name('imagenet')
    runner = Runner.from_cfg(cfg)
    runner.train()
    hub = runner.message_hub.log_scalars
    losses = [k for k in hub if k.startswith('train/distill.')]
    assert losses and all(np.isfinite(hub[k].current()) for k in losses)
    assert 'val/accuracy/top1' in hub and 'val/teacher.accuracy/top1' in hub


def test_missing_imagenet_is_clear(tmp_path):
    cfg = Config.fromfile(CONFIGS[0])
    cfg.model.teacher_ckpt = None
    cfg.train_dataloader.dataset.data_root = str(tmp_path / 'none')
    with pytest.raises(DatasetError, match=r'train/<class>/\*\.JPEG'):
        preflight(cfg)


@pytest.mark.parametrize('depth', [18, 50])
def test_torchvision_conversion_keeps_logits(depth, tmp_path):
    torch.manual_seed(0)
    tv = getattr(torchvision.models, f'resnet{depth}')(weights=None).eval()
    with torch.no_grad():  # non-trivial BN statistics
        for m in tv.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    src, dst = tmp_path / 'tv.pth', tmp_path / 'mm.pth'
    torch.save(tv.state_dict(), src)
    res = run_tool(CONVERTER, str(src), str(dst), '--depth', str(depth))
    assert res.returncode == 0, res.stderr
    model = build_model(torchvision_resnet_cfg(depth)).eval()
    model.load_state_dict(torch.load(dst)['state_dict'], strict=True)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x, mode='tensor'), tv(x),
                                   rtol=1e-4, atol=1e-4)
    res = run_tool(CONVERTER, str(src), str(tmp_path / 'bad.pth'), '--depth',
                   '34' if depth == 18 else '101')
    assert res.returncode == 2 and not (tmp_path / 'bad.pth').exists()
