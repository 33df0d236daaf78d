# Copyright (c) dckd_mm contributors. All rights reserved.
"""Detection DCKD on a tiny COCO-format dataset made by the test (JPEGs and
a real annotation json with boxes and polygons); image scale shrunk and
pretrained backbone files generated in the test only."""
import copy
import glob
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config, ConfigDict
from mmengine.runner import Runner
from PIL import Image

import dckd_mm  # noqa: F401
from tests.helpers import build_model, run_name, save_teacher_ckpt

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', '*', '*_coco.py')))
R18 = [c for c in CONFIGS if 'r101-fpn_faster-rcnn-r18' in c][0]
MV2 = [c for c in CONFIGS if 'mobilenetv2' in c][0]
CASCADE = [c for c in CONFIGS if 'cascade' in c][0]
CLASSES = ('person', 'bicycle', 'car')


def write_coco(root: str, n_images: int = 4) -> str:
    rng = np.random.RandomState(0)
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
    for split in ('train2017', 'val2017'):
        os.makedirs(osp.join(root, split), exist_ok=True)
        images, anns = [], []
        for i in range(n_images):
            name = f'{i:012d}.jpg'
            img = rng.randint(0, 256, (64, 80, 3), dtype=np.uint8)
            Image.fromarray(img).save(osp.join(root, split, name))
            images.append(dict(id=i + 1, file_name=name, width=80,
                               height=64))
            for j in range(2):
                x, y = int(rng.randint(0, 40)), int(rng.randint(0, 30))
                w, h = int(rng.randint(12, 36)), int(rng.randint(12, 30))
                anns.append(dict(
                    id=len(anns) + 1, image_id=i + 1,
                    category_id=int(rng.randint(1, 4)), bbox=[x, y, w, h],
                    segmentation=[[x, y, x + w, y, x + w, y + h, x, y + h]],
                    area=w * h, iscrowd=0))
        cats = [dict(id=k + 1, name=n) for k, n in enumerate(CLASSES)]
        with open(osp.join(root, 'annotations',
                           f'instances_{split}.json'), 'w') as f:
            json.dump(dict(images=images, annotations=anns,
                           categories=cats), f)
    return root


def backbone_file(backbone_cfg: dict, path: str, seed: int = 1) -> dict:
    """A generated 'ImageNet' checkpoint of the backbone (the key layout of
    torchvision's and open-mmlab's files)."""
    from mmdet.registry import MODELS
    torch.manual_seed(seed)
    cfg = dict(copy.deepcopy(backbone_cfg), init_cfg=None)
    cfg['type'] = cfg['type'].split('.')[-1]
    state = MODELS.build(cfg).state_dict()
    torch.save(state, path)
    return state


def _set_classes(model: dict) -> None:
    heads = model['roi_head']['bbox_head']
    for head in heads if isinstance(heads, list) else [heads]:
        head['num_classes'] = len(CLASSES)
    if 'mask_head' in model['roi_head']:
        model['roi_head']['mask_head']['num_classes'] = len(CLASSES)


def _fewer_rois(model: dict) -> None:
    """Fewer proposals and sampled RoIs than COCO's recipe (test speed
    only; the code paths are the same)."""
    model.train_cfg.rpn_proposal.nms_pre = 200
    model.train_cfg.rpn_proposal.max_per_img = 100
    rcnn = model.train_cfg.rcnn
    for stage in rcnn if isinstance(rcnn, list) else [rcnn]:
        stage.sampler.num = 64
    model.test_cfg.rpn.nms_pre = 200
    model.test_cfg.rpn.max_per_img = 100


def tiny(config: str, root: str, work_dir: str, teacher_ckpt: str,
         with_mask: bool = False) -> Config:
    cfg = Config.fromfile(config)
    cfg.work_dir = work_dir
    meta = dict(classes=CLASSES)
    train_pipe = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations', with_bbox=True, with_mask=with_mask),
        dict(type='Resize', scale=(96, 64), keep_ratio=True),
        dict(type='PackDetInputs'),
    ]
    test_pipe = [
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=(96, 64), keep_ratio=True),
        dict(type='LoadAnnotations', with_bbox=True),
        dict(type='PackDetInputs',
             meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                        'scale_factor')),
    ]
    for key, pipe in (('train_dataloader', train_pipe),
                      ('val_dataloader', test_pipe),
                      ('test_dataloader', test_pipe)):
        cfg[key].dataset.data_root = root + '/'
        cfg[key].dataset.metainfo = meta
        cfg[key].dataset.pipeline = pipe
        cfg[key].batch_size = 2
        cfg[key].num_workers = 0
        cfg[key].persistent_workers = False
    for key in ('val_evaluator', 'test_evaluator'):
        cfg[key].ann_file = osp.join(root, 'annotations',
                                     'instances_val2017.json')
    for m in (cfg.model.architecture, cfg.model.teacher):
        _set_classes(m)
        _fewer_rois(m)
    # an untrained detector keeps no box above 0.05; keep all so that
    # CocoMetric has detections to score
    cfg.model.architecture.test_cfg.rcnn.score_thr = 0.0
    cfg.model.teacher_ckpt = teacher_ckpt
    student_init = osp.join(work_dir + '_init', 'backbone.pth')
    os.makedirs(osp.dirname(student_init), exist_ok=True)
    backbone_file(cfg.model.architecture.backbone.to_dict(), student_init)
    cfg.model.architecture.backbone.init_cfg = dict(
        type='Pretrained', checkpoint=student_init)
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=2,
                         val_interval=2)
    cfg.param_scheduler = []
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=2,
                                        by_epoch=False)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.log_level = 'WARNING'
    cfg.experiment_name = run_name('det')
    # mmdet's default_runtime fixes the visualizer's name ('visualizer')
    cfg.visualizer.name = cfg.experiment_name
    return cfg


@pytest.fixture(scope='module')
def coco_root(tmp_path_factory):
    return write_coco(str(tmp_path_factory.mktemp('coco')))


def teacher_file(cfg: Config, path: str) -> dict:
    """The teacher of ``cfg`` with random weights, saved to ``path``; its
    state dict."""
    return save_teacher_ckpt(cfg.model.teacher, path,
                             scope='mmdet').state_dict()


def _raw_batch(cfg: Config) -> dict:
    """Two training samples of ``cfg``'s dataset, as the dataloader hands
    them to the data preprocessor."""
    from mmdet.registry import DATASETS
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    items = [dataset[0], dataset[1]]
    return dict(inputs=[i['inputs'] for i in items],
                data_samples=[i['data_samples'] for i in items])


def _logged(runner: Runner) -> dict:
    hub = runner.message_hub.log_scalars
    return {k[len('train/'):]: hub[k].current() for k in hub
            if k.startswith('train/') and 'loss' in k}


@pytest.mark.parametrize('config', CONFIGS, ids=osp.basename)
def test_trains_freezes_teacher_and_tests_without_it(config, coco_root,
                                                     tmp_path):
    """Each config: two iterations with finite losses, the teacher bitwise
    unchanged, the student's frozen stem equal to its pretrained file, a
    checkpoint without the teacher, then a test run to an mAP line with
    no teacher checkpoint on disk."""
    from dckd_mm.apis.launch import run_test
    ckpt = str(tmp_path / 'teacher.pth')
    cfg = tiny(config, coco_root, str(tmp_path / 'w'), ckpt)
    teacher_file(cfg, ckpt)
    pretrained = torch.load(cfg.model.architecture.backbone.init_cfg[
        'checkpoint'])
    runner = Runner.from_cfg(cfg)
    algo = runner.model
    before = {k: v.clone() for k, v in algo.teacher.state_dict().items()}
    calls = []
    original = algo.roi_loss.forward

    def spy(preds_S, preds_T, gt_labels):
        calls.append((preds_S.shape, preds_T.shape, gt_labels.shape))
        return original(preds_S, preds_T, gt_labels)

    algo.roi_loss.forward = spy
    initialised = {}
    init_weights = algo.init_weights

    def init_and_record():
        init_weights()
        initialised.update({
            k: v.clone()
            for k, v in algo.student.backbone.state_dict().items()
        })

    algo.init_weights = init_and_record
    runner.train()
    # the student started from its pretrained file, every tensor of it
    for k, v in pretrained.items():
        assert torch.equal(initialised[k], v), k
    losses = _logged(runner)
    stages = len(algo.student.roi_head.bbox_head) if algo.kind == \
        'cascade' else 1
    names = (['distill.loss_roi_dckd'] if stages == 1 else
             [f'distill.loss_roi_dckd_s{i}' for i in range(stages)])
    for name in names + ['student.loss_rpn_cls']:
        assert name in losses, losses
    assert all(np.isfinite(v) for v in losses.values()), losses
    # same rows, same boxes, C + 1 columns, once per stage per iteration
    assert len(calls) == 2 * stages
    for s_shape, t_shape, y_shape in calls:
        assert s_shape == t_shape and s_shape[1] == len(CLASSES) + 1
        assert y_shape[0] == s_shape[0]
    after = algo.teacher.state_dict()
    for k, v in before.items():
        assert torch.equal(v, after[k]), k
    # mmdet's frozen stages kept those weights
    backbone = algo.student.backbone
    frozen = [n for n, p in backbone.named_parameters()
              if not p.requires_grad]
    if getattr(backbone, 'frozen_stages', -1) >= 0:
        assert frozen
    for name in frozen:
        assert torch.equal(backbone.state_dict()[name], pretrained[name])
    saved = torch.load(str(tmp_path / 'w' / 'iter_2.pth'),
                       weights_only=False)['state_dict']
    assert not any(k.startswith('teacher.') for k in saved)
    assert 'teacher_fingerprint' in saved
    assert any(k.startswith('architecture.') for k in saved)

    os.remove(ckpt)  # testing needs no teacher
    test_cfg = tiny(config, coco_root, str(tmp_path / 't'), ckpt)
    metrics = run_test(test_cfg, str(tmp_path / 'w' / 'iter_2.pth'))
    assert 'coco/bbox_mAP' in metrics and metrics['coco/bbox_mAP'] >= 0


def test_test_tool_without_teacher_prints_map(coco_root, tmp_path):
    """tools/test.py scores a checkpoint with no teacher file on disk; here
    one saved with save_teacher=True, whose teacher weights are ignored."""
    ckpt = str(tmp_path / 'teacher.pth')
    cfg = tiny(R18, coco_root, str(tmp_path / 'w'), ckpt)
    teacher_file(cfg, ckpt)
    cfg.model.save_teacher = True
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=1,
                         val_interval=1000)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1,
                                        by_epoch=False)
    Runner.from_cfg(cfg).train()
    saved = torch.load(str(tmp_path / 'w' / 'iter_1.pth'),
                       weights_only=False)['state_dict']
    assert any(k.startswith('teacher.') for k in saved)
    os.remove(ckpt)
    path = str(tmp_path / 'det.py')
    cfg.dump(path)
    res = subprocess.run(
        [sys.executable, 'tools/test.py', path,
         str(tmp_path / 'w' / 'iter_1.pth'), '--work-dir',
         str(tmp_path / 't')], cwd=ROOT, capture_output=True, text=True,
        timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "'coco/bbox_mAP':" in res.stdout, res.stdout[-2000:]


def test_resume_reloads_teacher_and_checks_it(coco_root, tmp_path):
    from dckd_mm.apis.launch import run_train
    ckpt = str(tmp_path / 'teacher.pth')
    cfg = tiny(R18, coco_root, str(tmp_path / 'w'), ckpt)
    teacher = teacher_file(cfg, ckpt)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1,
                                        by_epoch=False)
    run_train(copy.deepcopy(cfg))
    cfg.train_cfg.max_iters = 3
    runner = run_train(copy.deepcopy(cfg), resume='auto')
    assert runner.iter == 3
    for k, v in runner.model.teacher.state_dict().items():
        assert torch.equal(v, teacher[k]), k
    # the student exports from a checkpoint without the teacher
    from dckd_mm.utils.export import export_student
    path = str(tmp_path / 'det.py')
    cfg.dump(path)
    _, state = export_student(path, str(tmp_path / 'w' / 'iter_3.pth'),
                              str(tmp_path / 's.py'),
                              str(tmp_path / 's.pth'))
    student = runner.model.student.state_dict()
    assert set(state) == set(student)
    for k, v in state.items():
        assert torch.equal(v, student[k]), k
    # another teacher file under the same name is refused on resume
    torch.save({'state_dict': {k: v + 1 if v.is_floating_point() else v
                               for k, v in teacher.items()}}, ckpt)
    cfg.train_cfg.max_iters = 4
    with pytest.raises(ValueError, match='another teacher'):
        run_train(copy.deepcopy(cfg), resume='auto')


def _model(config: str, **changes) -> ConfigDict:
    model = copy.deepcopy(Config.fromfile(config).model)
    model.teacher_ckpt = None
    model.student_from_scratch = True
    model.architecture.backbone.init_cfg = None
    model.architecture.backbone.frozen_stages = -1
    model.architecture.backbone.norm_eval = False
    for key, value in changes.items():
        model[key] = value
    return model


def test_misaligned_pyramid_is_refused():
    model = _model(MV2)
    model.architecture.backbone.out_indices = (2, 4, 6)  # strides 8-32
    model.architecture.neck.in_channels = [32, 96, 320]
    with pytest.raises(ValueError) as err:
        build_model(model, 'mmdet')
    assert 'strides [8, 16, 32, 64, 128]' in str(err.value)
    assert '[4, 8, 16, 32, 64]' in str(err.value)
    # a teacher whose neck leaves out a level disagrees with the student
    model = _model(R18)
    model.teacher.neck.num_outs = 4
    model.teacher.rpn_head.anchor_generator.strides = [4, 8, 16, 32]
    with pytest.raises(ValueError, match="teacher's at"):
        build_model(model, 'mmdet')
    # an RoI extractor that pools other levels than the neck's
    model = _model(R18)
    model.architecture.roi_head.bbox_roi_extractor.featmap_strides = [
        8, 16, 32, 64]
    with pytest.raises(ValueError, match='RoI extractor'):
        build_model(model, 'mmdet')


def test_fixed_mobilenetv2_pyramid_matches_mdistiller():
    from dckd_mm.models.algorithms.detection import check_pyramid
    algo = build_model(_model(MV2), 'mmdet')
    assert check_pyramid(algo.student, algo.teacher) == dict(
        student=[4, 8, 16, 32, 64], teacher=[4, 8, 16, 32, 64])
    channels = [f.shape[1] for f in algo.student.backbone(
        torch.zeros(1, 3, 64, 64))]
    assert channels == [24, 32, 96, 320]  # mdistiller's m2-m5


def test_student_without_pretrained_weights_is_refused(tmp_path,
                                                       monkeypatch):
    model = copy.deepcopy(Config.fromfile(R18).model)
    model.teacher_ckpt = None
    model.architecture.backbone.init_cfg = None
    with pytest.raises(ValueError, match='student_from_scratch=True'):
        build_model(model, 'mmdet')
    # from scratch on purpose, but with mmdet's frozen stem: refused too
    model.student_from_scratch = True
    with pytest.raises(ValueError, match='frozen_stages=-1'):
        build_model(model, 'mmdet')
    # from scratch while a Pretrained init would still load: refused
    scratch = copy.deepcopy(Config.fromfile(R18).model)
    scratch.teacher_ckpt = None
    scratch.student_from_scratch = True
    with pytest.raises(ValueError, match='backbone.init_cfg=None'):
        build_model(scratch, 'mmdet')
    # a Pretrained init of the whole detector counts
    whole = copy.deepcopy(Config.fromfile(R18).model)
    whole.teacher_ckpt = None
    whole.architecture.backbone.init_cfg = None
    whole.architecture.init_cfg = dict(type='Pretrained',
                                       checkpoint='det.pth')
    assert build_model(whole, 'mmdet').student.init_cfg['checkpoint'] == \
        'det.pth'
    # torchvision:// resolves to the torch hub cache, and is not there
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch'))
    model = copy.deepcopy(Config.fromfile(R18).model)
    model.teacher_ckpt = None
    algo = build_model(model, 'mmdet')
    with pytest.raises(FileNotFoundError) as err:
        algo.init_weights()
    path = str(tmp_path / 'torch' / 'hub' / 'checkpoints' /
               'resnet18-f37072fd.pth')
    assert path in str(err.value)
    assert 'https://download.pytorch.org/models/resnet18-f37072fd.pth' in \
        str(err.value)
    # once the file is there it is what the student starts from
    os.makedirs(osp.dirname(path))
    state = backbone_file(
        Config.fromfile(R18).model.architecture.backbone.to_dict(), path)
    algo.init_weights()
    got = algo.student.backbone.state_dict()
    for k, v in state.items():
        assert torch.equal(got[k], v), k
    # a file whose keys do not match loads nothing: refused, not ignored
    torch.save({'state_dict': {f'backbone.{k}': v
                               for k, v in state.items()}}, path)
    algo = build_model(model, 'mmdet')
    with pytest.raises(ValueError, match="prefix='backbone.'"):
        algo.init_weights()


def test_open_mmlab_names_resolve_offline(tmp_path, monkeypatch):
    from dckd_mm.models.algorithms.detection import resolve_pretrained
    monkeypatch.setenv('TORCH_HOME', str(tmp_path))
    with pytest.raises(FileNotFoundError,
                       match='mobilenet_v2_batch256_imagenet-ff34753d.pth'):
        resolve_pretrained('open-mmlab://mmdet/mobilenet_v2')
    with pytest.raises(FileNotFoundError, match='student_from_scratch'):
        resolve_pretrained(str(tmp_path / 'missing.pth'))
    with pytest.raises(KeyError):
        resolve_pretrained('torchvision://no_such_net')
    with pytest.raises(FileNotFoundError) as err:
        resolve_pretrained('https://example.org/w/swin_tiny.pth')
    assert str(tmp_path / 'hub' / 'checkpoints' / 'swin_tiny.pth') in str(
        err.value)
    assert resolve_pretrained('s3://bucket/w.pth') == 's3://bucket/w.pth'


def _caffe_teacher(model: ConfigDict) -> ConfigDict:
    model.teacher.data_preprocessor = dict(
        type='DetDataPreprocessor', mean=[103.53, 116.28, 123.675],
        std=[1.0, 1.0, 1.0], bgr_to_rgb=False, pad_size_divisor=32)
    return model


def test_teacher_sees_its_own_normalisation(coco_root, tmp_path):
    """A caffe-style teacher (BGR, std 1) is fed exactly what its own
    data_preprocessor makes of the raw batch, padding included."""
    cfg = tiny(R18, coco_root, str(tmp_path / 'w'), 'unused.pth')
    cfg.train_dataloader.dataset.pipeline.insert(
        3, dict(type='RandomFlip', prob=1.0))
    model = _caffe_teacher(_model(R18))
    algo = build_model(model, 'mmdet')
    assert algo.teacher_norm is not None
    raw = _raw_batch(cfg)
    # two images of different sizes so that one is padded
    raw['inputs'][1] = raw['inputs'][1][:, :40, :70]
    raw['data_samples'][1].set_metainfo(dict(img_shape=(40, 70)))
    student = algo.data_preprocessor(copy.deepcopy(raw), True)
    expected = algo.teacher.data_preprocessor(copy.deepcopy(raw), True)
    got = algo.teacher_inputs(student['inputs'], student['data_samples'])
    assert got.shape == expected['inputs'].shape
    torch.testing.assert_close(got, expected['inputs'], atol=2e-3,
                               rtol=0)
    # and that is what the teacher's backbone receives in a training step
    seen = []
    hook = algo.teacher.backbone.register_forward_pre_hook(
        lambda m, args: seen.append(args[0].clone()))
    algo.train()
    algo.loss(student['inputs'], student['data_samples'])
    hook.remove()
    torch.testing.assert_close(seen[0], expected['inputs'], atol=2e-3,
                               rtol=0)
    # a teacher that agrees with the student gets the batch unchanged
    same = build_model(_model(R18), 'mmdet')
    assert same.teacher_norm is None
    assert same.teacher_inputs(student['inputs'],
                               student['data_samples']) is student['inputs']


def test_cascade_stage_weights_and_last_stage(coco_root, tmp_path):
    from dckd_mm.models.losses import dckd_loss
    cfg = tiny(CASCADE, coco_root, str(tmp_path / 'w'), 'unused.pth')
    raw = _raw_batch(cfg)
    for stages in ('all', 'last'):
        model = _model(CASCADE, cascade_stages=stages)
        for m in (model.architecture, model.teacher):
            _set_classes(m)
        torch.manual_seed(0)
        algo = build_model(model, 'mmdet')
        algo.train()
        data = algo.data_preprocessor(copy.deepcopy(raw), True)
        records = []
        original = algo.roi_losses

        def spy(t_feats):
            inputs = algo.roi_recorders.get_recorder('inputs').data_buffer
            logits = algo.roi_recorders.get_recorder('logits').data_buffer
            records.extend(zip(inputs, logits))
            return original(t_feats)

        algo.roi_losses = spy
        losses = algo.loss(data['inputs'], data['data_samples'])
        keys = sorted(k for k in losses if 'roi_dckd' in k)
        if stages == 'last':
            assert keys == ['distill.loss_roi_dckd_s2']
            continue
        assert keys == [f'distill.loss_roi_dckd_s{i}' for i in range(3)]
        weights = algo.student.roi_head.stage_loss_weights
        assert len(records) == 3
        from mmdet.structures.bbox import bbox2roi
        for i, ((stage, _, sampling), out) in enumerate(records):
            assert stage == i
            rois = bbox2roi([res.priors for res in sampling])
            # bbox2roi concatenates each image's positives then negatives
            labels = torch.cat([
                torch.cat([res.pos_gt_labels,
                           torch.full((len(res.neg_priors), ),
                                      len(CLASSES))]) for res in sampling
            ])
            with torch.no_grad():
                t_cls = algo.teacher.roi_head._bbox_forward(
                    i, algo.teacher.extract_feat(data['inputs']),
                    rois)['cls_score']
                s_cls = algo.student.roi_head._bbox_forward(
                    i, algo.student.extract_feat(data['inputs']),
                    rois)['cls_score']
            torch.testing.assert_close(s_cls, out['cls_score'].detach())
            ref = dckd_loss(s_cls, t_cls, labels,
                            tau=1.0, alpha=1.0, beta=0.25) * weights[i]
            torch.testing.assert_close(
                losses[f'distill.loss_roi_dckd_s{i}'].detach(), ref)


def test_mask_rcnn_trains(coco_root, tmp_path):
    from mmengine.hub import get_config
    ckpt = str(tmp_path / 'teacher.pth')
    cfg = tiny(R18, coco_root, str(tmp_path / 'w'), ckpt, with_mask=True)
    mask = get_config('mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py').model
    student = copy.deepcopy(mask.to_dict())
    student['_scope_'] = 'mmdet'
    student['backbone']['depth'] = 18
    student['backbone']['init_cfg'] = cfg.model.architecture.backbone[
        'init_cfg'].to_dict()
    student['neck']['in_channels'] = [64, 128, 256, 512]
    student['test_cfg']['rcnn']['score_thr'] = 0.0
    teacher = copy.deepcopy(mask.to_dict())
    teacher['_scope_'] = 'mmdet'
    teacher['backbone']['init_cfg'] = None
    for m in (student, teacher):
        _set_classes(m)
    cfg.model.architecture = student
    cfg.model.teacher = teacher
    cfg.val_evaluator.metric = ['bbox', 'segm']
    teacher_file(cfg, ckpt)
    runner = Runner.from_cfg(cfg)
    before = {k: v.clone() for k, v in
              runner.model.teacher.state_dict().items()}
    runner.train()
    losses = _logged(runner)
    for name in ('distill.loss_roi_dckd', 'student.loss_mask'):
        assert name in losses and np.isfinite(losses[name]), losses
    for k, v in runner.model.teacher.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_switches_are_honoured(coco_root, tmp_path):
    from mmdet.models.roi_heads import StandardRoIHead
    cfg = tiny(R18, coco_root, str(tmp_path / 'w'), 'unused.pth')
    raw = _raw_batch(cfg)
    original = StandardRoIHead.bbox_loss
    algo = build_model(_model(R18), 'mmdet')
    algo.train()
    data = algo.data_preprocessor(copy.deepcopy(raw), True)
    teacher_calls = []
    algo.teacher.backbone.register_forward_pre_hook(
        lambda m, a: teacher_calls.append(1))
    keys = set(algo.loss(data['inputs'], data['data_samples']))
    assert 'distill.loss_roi_dckd' in keys and 'student.loss_cls' in keys
    assert StandardRoIHead.bbox_loss is original  # recorder restored it
    assert 'bbox_loss' not in vars(algo.student.roi_head)
    assert len(teacher_calls) == 1
    algo.distillation_stopped = True  # mmrazor's StopDistillHook
    keys = set(algo.loss(data['inputs'], data['data_samples']))
    assert keys and all(k.startswith('student.') for k in keys)
    assert len(teacher_calls) == 1  # the teacher no longer runs
    algo.distillation_stopped = False
    algo.calculate_student_loss = False
    keys = set(algo.loss(data['inputs'], data['data_samples']))
    assert keys == {'distill.loss_roi_dckd'}
    with pytest.raises(ValueError, match='teacher_trainable'):
        build_model(_model(R18, teacher_trainable=True), 'mmdet')
    with pytest.raises(ValueError, match='student_trainable'):
        build_model(_model(R18, student_trainable=False), 'mmdet')


def test_fpn_feature_loss_mixes_in(coco_root, tmp_path):
    """An mmrazor feature loss on the FPN levels next to the RoI DCKD loss,
    the way docs/detection.md shows."""
    cfg = tiny(R18, coco_root, str(tmp_path / 'w'), 'unused.pth')
    raw = _raw_batch(cfg)
    model = _model(R18)
    model.distiller = dict(
        type='ConfigurableDistiller',
        student_recorders=dict(fpn=dict(type='ModuleOutputs',
                                        source='neck')),
        teacher_recorders=dict(fpn=dict(type='ModuleOutputs',
                                        source='neck')),
        distill_losses=dict(loss_fpn0=dict(
            type='L2Loss', normalize=False, div_element=True,
            loss_weight=1.0)),
        loss_forward_mappings=dict(loss_fpn0=dict(
            s_feature=dict(from_student=True, recorder='fpn', data_idx=0),
            t_feature=dict(from_student=False, recorder='fpn',
                           data_idx=0))))
    algo = build_model(model, 'mmdet')
    algo.train()
    data = algo.data_preprocessor(copy.deepcopy(raw), True)
    losses = algo.loss(data['inputs'], data['data_samples'])
    with torch.no_grad():
        s = algo.student.extract_feat(data['inputs'])[0]
        t = algo.teacher.extract_feat(data['inputs'])[0]
    assert torch.isfinite(losses['distill.loss_fpn0'])
    assert losses['distill.loss_fpn0'] > 0
    torch.testing.assert_close(losses['distill.loss_fpn0'].detach(),
                               ((s - t)**2).mean(),
                               rtol=1e-4, atol=1e-4)


def test_other_roi_heads_are_refused():
    from mmengine.hub import get_config
    model = _model(R18)
    model.teacher_ckpt = None
    model.architecture.roi_head.bbox_head.loss_cls = dict(
        type='mmdet.FocalLoss', use_sigmoid=True)
    with pytest.raises(TypeError, match='sigmoid'):
        build_model(model, 'mmdet')
    for name in ('retinanet/retinanet_r50_fpn_1x_coco.py',
                 'double_heads/dh-faster-rcnn_r50_fpn_1x_coco.py',
                 'htc/htc-without-semantic_r50_fpn_1x_coco.py'):
        other = get_config(f'mmdet::{name}').model.to_dict()
        other['_scope_'] = 'mmdet'
        other['backbone']['init_cfg'] = None
        model = _model(R18)
        model.architecture = other
        model.architecture.backbone.frozen_stages = -1
        model.architecture.backbone.norm_eval = False
        with pytest.raises(TypeError, match='(?i)supported: two-stage'):
            build_model(model, 'mmdet')
    # a cascade student with a standard teacher
    model = _model(CASCADE)
    model.teacher = copy.deepcopy(Config.fromfile(R18).model.teacher)
    with pytest.raises(TypeError, match='RoI heads differ'):
        build_model(model, 'mmdet')


def test_old_checkpoints_and_unrestorable_teachers(tmp_path):
    """A checkpoint saved before fingerprints (teacher included) still
    fits; a teacher no teacher_ckpt could restore stays in checkpoints."""
    from dckd_mm.apis.launch import _check_fits
    algo = build_model(_model(R18), 'mmdet')
    assert algo.save_teacher  # teacher_ckpt=None: nothing could reload it
    state = algo.state_dict()
    assert any(k.startswith('teacher.') for k in state)
    old = {k: v for k, v in state.items() if k != 'teacher_fingerprint'}
    _check_fits(old, algo, 'old.pth', '')
    algo.load_state_dict(old, strict=True)
    # resuming such a run from a checkpoint without the teacher is refused
    # (nothing could restore it); testing it needs no teacher
    student_only = {k: v for k, v in state.items()
                    if not k.startswith('teacher.')}
    with pytest.raises(ValueError, match='missing key'):
        _check_fits(student_only, algo, 'student.pth', '')
    _check_fits(student_only, algo, 'student.pth', '', need_teacher=False)
    # with a teacher file, checkpoints leave the teacher out
    path = str(tmp_path / 'teacher.pth')
    torch.save({'state_dict': algo.teacher.state_dict()}, path)
    model = _model(R18)
    model.teacher_ckpt = path
    loaded = build_model(model, 'mmdet')
    assert not loaded.save_teacher
    assert not any(k.startswith('teacher.') for k in loaded.state_dict())
    _check_fits(old, loaded, 'old.pth', '')
    loaded.load_state_dict(old, strict=True)


def test_gpu_without_mmcv_cuda_ops_is_refused(monkeypatch):
    import mmcv.ops

    from dckd_mm.apis.launch import check_mmcv_cuda
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(mmcv.ops, 'get_compiling_cuda_version',
                        lambda: 'not available')
    with pytest.raises(RuntimeError, match='FORCE_CUDA=1'):
        check_mmcv_cuda()
    monkeypatch.setattr(mmcv.ops, 'get_compiling_cuda_version',
                        lambda: '12.4')
    check_mmcv_cuda()


def test_amp_on_cpu_is_refused_for_detection():
    from dckd_mm.apis.launch import load_config
    if torch.cuda.is_available():
        pytest.skip('the refusal is for CPU runs')
    with pytest.raises(ValueError, match='BFloat16'):
        load_config(R18, amp=True)
    # also when the config already asks for AmpOptimWrapper
    with pytest.raises(ValueError, match='BFloat16'):
        load_config(R18, cfg_options={'optim_wrapper.type':
                                      'AmpOptimWrapper'}, amp=True)


def test_missing_coco_or_teacher_is_clear(tmp_path):
    from dckd_mm.apis.launch import preflight
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


def _losses(work_dir: str) -> list:
    path = next(osp.join(r, f) for r, _, fs in os.walk(work_dir)
                for f in fs if f == 'scalars.json')
    with open(path) as f:
        return [json.loads(line) for line in f if '"loss"' in line]


def test_two_processes_match_one(coco_root, tmp_path):
    import random
    ckpt = str(tmp_path / 'teacher.pth')
    cfg = tiny(R18, coco_root, str(tmp_path / 'w'), ckpt)
    teacher_file(cfg, ckpt)
    cfg.env_cfg.dist_cfg = dict(backend='gloo')
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=2,
                         val_interval=1000)
    cfg.randomness = dict(seed=0, deterministic=True)
    cfg.train_dataloader.batch_size = 1
    # COCO's 512 sampled RoIs per image: with fewer, one image's
    # classification loss strays further from the two images' mean
    cfg.model.architecture.train_cfg.rcnn.sampler.num = 512
    path = str(tmp_path / 'det.py')
    cfg.dump(path)
    # TMPDIR: torchrun's per-run folders go with the test's, not into /tmp
    env = dict(os.environ, PYTHON=sys.executable, TMPDIR=str(tmp_path),
               PORT=str(random.randint(20000, 32000)))
    two = subprocess.run(
        ['bash', 'tools/dist_train.sh', path, '2', '--work-dir',
         str(tmp_path / 'two')], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=600)
    assert two.returncode == 0, two.stderr[-3000:]
    one = subprocess.run(
        [sys.executable, 'tools/train.py', path, '--work-dir',
         str(tmp_path / 'one'), '--cfg-options',
         'train_dataloader.batch_size=2'], cwd=ROOT, capture_output=True,
        text=True, timeout=600)
    assert one.returncode == 0, one.stderr[-3000:]
    assert osp.isfile(tmp_path / 'two' / 'iter_2.pth')
    l1, l2 = _losses(str(tmp_path / 'one')), _losses(str(tmp_path / 'two'))
    assert len(l1) == len(l2) == 2
    for a, b in zip(l1, l2):
        print('relative difference, total loss %.4f, loss_cls %.4f' % (
            abs(a['loss'] - b['loss']) / a['loss'],
            abs(a['student.loss_cls'] - b['student.loss_cls']) /
            a['student.loss_cls']))
        for key in ('loss', 'distill.loss_roi_dckd', 'student.loss_cls'):
            assert np.isfinite(a[key]) and np.isfinite(b[key])
        # rank 0 logs the loss of its own image, the single process the
        # mean over both; box regression depends on each image's boxes and
        # is not compared.
        assert abs(a['loss'] - b['loss']) <= 0.10 * a['loss']
    # first iteration, same weights: the classification losses agree
    # closely (measured 0.14%); after one step the two runs' weights differ
    # too (mmdet normalises each process's losses by its own sample
    # count), so only the 10% bound above applies to the second
    assert abs(l1[0]['student.loss_cls'] - l2[0]['student.loss_cls']) <= \
        0.02 * l1[0]['student.loss_cls']
