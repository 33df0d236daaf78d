# Copyright (c) dckd_mm contributors. All rights reserved.
"""Checks and plain tensor functions behind :class:`RoIDCKDDistill`.

Each function here guards against a way a detection distillation config
can run without error and still be wrong (see ``docs/detection.md``):

* :func:`roi_head_kind` — which two-stage RoI heads DCKD can distil;
* :func:`pyramid_strides` / :func:`check_pyramid` — FPN levels that sit at
  the strides the anchors and the RoI extractor assume;
* :func:`check_student_init` / :func:`resolve_pretrained` — a student
  backbone that starts from ImageNet weights found on this machine;
* :func:`normalisation` / :func:`renormalise` — the teacher sees the batch
  normalised as its own ``data_preprocessor`` would.
"""
import os.path as osp
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Sequence
from urllib.parse import urlparse

import torch
from torch import Tensor, nn

__all__ = [
    'SUPPORTED', 'defining_class', 'roi_head_kind', 'bbox_heads',
    'pyramid_strides', 'check_pyramid', 'resolve_pretrained',
    'pretrained_cfgs', 'check_student_init', 'check_loaded',
    'Normalisation', 'normalisation', 'renormalise', 'check_preprocessors'
]

SUPPORTED = ('two-stage detectors whose RoI head is a StandardRoIHead '
             '(Faster R-CNN, Mask R-CNN) or a CascadeRoIHead (Cascade '
             'R-CNN, Cascade Mask R-CNN) and whose bbox heads classify with '
             'a softmax (CrossEntropyLoss, use_sigmoid=False)')


def defining_class(obj: Any, name: str) -> Optional[type]:
    """The class in ``type(obj)``'s MRO that defines ``name``."""
    for cls in type(obj).__mro__:
        if name in vars(cls):
            return cls
    return None


def roi_head_kind(model: nn.Module, what: str) -> str:
    """``'standard'`` or ``'cascade'``: how ``model``'s RoI head samples
    and classifies, or a ``TypeError`` that names what is supported.

    A head qualifies when its ``bbox_loss`` and ``_bbox_forward`` are
    mmdet's own ``StandardRoIHead`` ones (subclasses that only add a mask
    head, such as Mask R-CNN's, qualify) or ``CascadeRoIHead`` ones, and
    every bbox head classifies with a softmax over ``C + 1`` classes.
    Heads that override either method (HTC, Sparse R-CNN, Grid R-CNN,
    PISA, ...) sample or classify differently and are refused rather than
    distilled wrongly.
    """
    from mmdet.models.roi_heads import CascadeRoIHead, StandardRoIHead
    name = type(model).__name__
    roi_head = getattr(model, 'roi_head', None)
    if roi_head is None or getattr(roi_head, 'bbox_head', None) is None:
        raise TypeError(
            f'RoIDCKDDistill: the {what} ({name}) has no RoI bbox head. '
            f'DCKD is softmax-based; supported: {SUPPORTED}. One-stage '
            'detectors with sigmoid classifiers (RetinaNet, FCOS, ...) are '
            'refused.')
    owners = (defining_class(roi_head, 'bbox_loss'),
              defining_class(roi_head, '_bbox_forward'))
    if owners == (StandardRoIHead, StandardRoIHead):
        kind = 'standard'
    elif owners == (CascadeRoIHead, CascadeRoIHead):
        kind = 'cascade'
    else:
        raise TypeError(
            f'RoIDCKDDistill: the {what} ({name}) has a '
            f'{type(roi_head).__name__} that overrides bbox_loss or '
            '_bbox_forward, so its sampled RoIs and logits cannot be matched '
            f'with the other detector\'s. Supported: {SUPPORTED}.')
    for head in bbox_heads(model):
        loss_cls = getattr(head, 'loss_cls', None)
        if getattr(loss_cls, 'use_sigmoid', False) or getattr(
                head, 'custom_cls_channels', False):
            raise TypeError(
                f'RoIDCKDDistill: the {what} RoI head classifies with a '
                f'sigmoid ({type(loss_cls).__name__}); DCKD needs softmax '
                f'logits over C + 1 classes. Supported: {SUPPORTED}.')
    return kind


def bbox_heads(model: nn.Module) -> List[nn.Module]:
    """The bbox head of each stage of ``model.roi_head`` (one for a
    standard head, ``num_stages`` for a cascade)."""
    heads = model.roi_head.bbox_head
    return list(heads) if isinstance(heads, nn.ModuleList) else [heads]


def _roi_strides(model: nn.Module) -> List[List[int]]:
    """``featmap_strides`` of every RoI extractor (bbox and mask, each
    stage)."""
    out = []
    for name in ('bbox_roi_extractor', 'mask_roi_extractor'):
        extractors = getattr(model.roi_head, name, None)
        if extractors is None:
            continue
        if not isinstance(extractors, nn.ModuleList):
            extractors = [extractors]
        out += [[int(s) for s in e.featmap_strides] for e in extractors]
    return out


def pyramid_strides(model: nn.Module, size: int = 128) -> List[int]:
    """The stride of each feature level ``model.extract_feat`` returns,
    measured with a dummy ``(1, 3, size, size)`` forward in eval mode (no
    running statistic changes). ``size=128`` tells strides up to 128
    apart (the coarsest level is then 1 x 1) at a quarter of the cost of
    256."""
    was_training = model.training
    param = next(model.parameters())
    model.eval()
    try:
        with torch.no_grad():
            feats = model.extract_feat(
                torch.zeros(1, 3, size, size, device=param.device))
    finally:
        model.train(was_training)
    return [int(round(size / f.shape[-1])) for f in feats]


def check_pyramid(student: nn.Module, teacher: nn.Module,
                  size: int = 128) -> Dict[str, List[int]]:
    """Refuse FPN levels whose strides disagree with the anchors, the RoI
    extractor or the other detector's levels.

    A misaligned pyramid trains without any error: RoIs are pooled at the
    wrong scale, anchors cover part of the image, and level-wise feature
    losses compare different levels.

    Returns:
        dict: ``{'student': strides, 'teacher': strides}``.

    Raises:
        ValueError: naming the detector, the levels and both strides.
    """
    found = {}
    for what, model in (('student', student), ('teacher', teacher)):
        strides = pyramid_strides(model, size)
        found[what] = strides
        rpn = getattr(model, 'rpn_head', None)
        generator = getattr(rpn, 'prior_generator', None)
        if generator is not None:
            anchors = [int(s[0]) for s in generator.strides]
            if strides[:len(anchors)] != anchors or len(strides) < len(
                    anchors):
                raise ValueError(
                    f'{what} detector: its neck outputs levels at strides '
                    f'{strides} but the RPN anchor generator assumes '
                    f'{anchors}. Choose backbone out_indices (and the '
                    'neck\'s num_outs) so that level i has stride '
                    f'{anchors}[i]; for mmdet\'s MobileNetV2 that is '
                    'out_indices=(1, 2, 4, 6) with in_channels=[24, 32, 96, '
                    '320].')
        for stage, roi in enumerate(_roi_strides(model)):
            if strides[:len(roi)] != roi:
                raise ValueError(
                    f'{what} detector: an RoI extractor (number {stage}) '
                    f'pools levels at strides {roi} but the neck outputs '
                    f'{strides[:len(roi)]}: RoIs would be pooled at the '
                    'wrong coordinates. Align featmap_strides with the '
                    'neck.')
    if found['student'] != found['teacher']:
        raise ValueError(
            f'student FPN levels are at strides {found["student"]} and the '
            f'teacher\'s at {found["teacher"]}: level-wise feature losses '
            'would compare different scales. Give both necks the same '
            'levels.')
    return found


def resolve_pretrained(checkpoint: str) -> str:
    """The local file behind an mmengine checkpoint name, without any
    download.

    As mmengine resolves them: ``torchvision://NAME``, ``open-mmlab://NAME``
    and ``mmcls://NAME`` name a URL, and a URL (``http(s)://``) is the file
    ``<torch hub dir>/checkpoints/<file name of the URL>`` that mmengine
    would download it to; an ``open-mmlab://`` entry that is a relative
    path lives in mmengine's home folder. Other remote schemes (``s3://``,
    ...) are returned unchanged, for mmengine to read; anything else is a
    local path.

    Raises:
        FileNotFoundError: the file is not on this machine; the message
            names it and, for a URL, where to fetch it from.
        KeyError: an unknown ``torchvision://`` / ``open-mmlab://`` /
            ``mmcls://`` name.
    """
    from mmengine.runner.checkpoint import (_get_mmengine_home,
                                            get_deprecated_model_names,
                                            get_external_models,
                                            get_mmcls_models,
                                            get_torchvision_models)
    scheme, _, name = checkpoint.partition('://')
    tables = {
        'torchvision': get_torchvision_models,
        'modelzoo': get_torchvision_models,
        'open-mmlab': get_external_models,
        'openmmlab': get_external_models,
        'mmcls': get_mmcls_models,
    }
    url = path = None
    if scheme in tables:
        if scheme in ('open-mmlab', 'openmmlab'):
            name = get_deprecated_model_names().get(name, name)
        urls = tables[scheme]()
        if name not in urls:
            raise KeyError(f'{checkpoint}: mmengine knows no {scheme} '
                           f'weights named {name!r}.')
        url = urls[name]
        if not url.startswith(('http://', 'https://')):
            # a relative open-mmlab entry lives in mmengine's home folder
            url, path = None, osp.join(_get_mmengine_home(), url)
    elif checkpoint.startswith(('http://', 'https://')):
        url = checkpoint
    elif '://' in checkpoint:
        return checkpoint  # s3://, petrel://, ...: read by mmengine
    else:
        path = osp.expanduser(checkpoint)
    if url is None:
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'student backbone weights {checkpoint!r} ({path}) do not '
                'exist. Point init_cfg.checkpoint at an ImageNet checkpoint '
                'of the backbone (see docs/detection.md), or train from '
                'scratch on purpose with model.student_from_scratch=True '
                'and backbone.init_cfg=None.')
        return path
    path = osp.join(torch.hub.get_dir(), 'checkpoints',
                    osp.basename(urlparse(url).path))
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'the student starts from {checkpoint}, which is the file '
            f'{path}, and it is not on this machine (dckd_mm never '
            f'downloads at run time). Fetch it once with\n'
            f'    mkdir -p {osp.dirname(path)} && '
            f'wget {url} -O {path}\n'
            'or set TORCH_HOME to where it is, or set init_cfg.checkpoint '
            'to a local copy. To train the student from random weights '
            'instead, set model.student_from_scratch=True and '
            'backbone.init_cfg=None (and frozen_stages=-1, '
            'norm_eval=False).')
    return path


def pretrained_cfgs(model: nn.Module, nested: bool = True) -> List[dict]:
    """The ``Pretrained`` init configs of ``model`` and, with ``nested``,
    of its backbone (an ``init_cfg`` may be a dict or a list of dicts)."""
    out = []
    modules = (model, getattr(model, 'backbone', None)) if nested else (
        model, )
    for module in modules:
        init_cfg = getattr(module, 'init_cfg', None)
        items = init_cfg if isinstance(init_cfg, (list, tuple)) else [
            init_cfg]
        out += [
            c for c in items
            if isinstance(c, Mapping) and c.get('type') == 'Pretrained'
        ]
    return out


def check_student_init(student: nn.Module, from_scratch: bool) -> None:
    """Refuse a student that would train from random weights by accident,
    or that would load weights while meant to start from scratch.

    mmdet's detection recipes freeze the stem and the first stage
    (``frozen_stages=1``) and keep BN statistics fixed (``norm_eval``):
    from random weights those stay random, and every running mean/var stays
    at 0/1, for the whole run.

    Raises:
        ValueError: no ``Pretrained`` init (of the detector or its
            backbone) without ``from_scratch``; ``from_scratch`` with a
            ``Pretrained`` init, frozen stages or frozen BN statistics.
    """
    backbone = student.backbone
    name = type(backbone).__name__
    pretrained = pretrained_cfgs(student)
    frozen = getattr(backbone, 'frozen_stages', -1)
    norm_eval = getattr(backbone, 'norm_eval', False)
    if from_scratch:
        if pretrained:
            raise ValueError(
                'student_from_scratch=True, but the student still loads '
                f'{pretrained[0].get("checkpoint")!r} (a Pretrained '
                'init_cfg). Set model.architecture.backbone.init_cfg=None '
                '(and the detector\'s init_cfg, if it has one) to train '
                'from scratch.')
        if (frozen is not None and frozen >= 0) or norm_eval:
            raise ValueError(
                f'student_from_scratch=True, but the student {name} keeps '
                f'frozen_stages={frozen} and norm_eval={norm_eval}: its '
                'frozen layers would stay at random weights and its BN '
                'statistics at 0/1. Set backbone frozen_stages=-1 and '
                'norm_eval=False for from-scratch training.')
        return
    if not pretrained:
        raise ValueError(
            f'the student backbone ({name}) has no Pretrained init_cfg: it '
            'would train from random weights while its recipe keeps '
            f'frozen_stages={frozen} and norm_eval={norm_eval}. Set '
            'backbone.init_cfg=dict(type=\'Pretrained\', checkpoint=...) '
            '(torchvision://, open-mmlab:// or a local path; see '
            'docs/detection.md), or train from scratch on purpose with '
            'model.student_from_scratch=True and backbone.init_cfg=None.')


def check_loaded(module: nn.Module, init_cfg: Mapping, path: str) -> None:
    """Refuse a ``Pretrained`` file that would load into fewer than half of
    ``module``'s parameter tensors.

    mmengine loads ``Pretrained`` files with ``strict=False`` and only logs
    the keys that did not match, so a file with other key names (say, an
    mmpretrain classifier without ``prefix='backbone.'``) would leave the
    student at random weights. The file's keys are matched as mmengine
    matches them: the state dict inside the file, without a ``module.``
    prefix, without ``init_cfg['prefix']`` when one is given.

    Args:
        module (nn.Module): the module whose ``init_cfg`` it is.
        init_cfg (Mapping): that ``Pretrained`` init config.
        path (str): the resolved local file (remote names are skipped).

    Raises:
        ValueError: naming how many tensors the file fits and examples of
            the keys that do not.
    """
    if '://' in path:
        return
    from ...compat.safe_loading import safe_load
    from ...utils.checkpoint import extract_state_dict
    state = extract_state_dict(safe_load(path, map_location='cpu'))
    prefix = init_cfg.get('prefix')
    if prefix:
        prefix = prefix if prefix.endswith('.') else prefix + '.'
        state = {
            k[len(prefix):]: v
            for k, v in state.items() if k.startswith(prefix)
        }
    params = dict(module.named_parameters())
    missing = [
        k for k, v in params.items()
        if k not in state or tuple(state[k].shape) != tuple(v.shape)
    ]
    if params and len(missing) * 2 > len(params):
        raise ValueError(
            f'{path} fits only {len(params) - len(missing)} of the '
            f'{len(params)} parameter tensors of the student\'s '
            f'{type(module).__name__} (e.g. {missing[:3]} are not in it '
            f'with that shape; the file has {list(state)[:3]}): mmengine '
            'would load what fits and leave the rest at random values. For '
            'an mmpretrain classifier checkpoint add prefix=\'backbone.\' '
            'to the init_cfg; otherwise convert the file to the model\'s '
            'key names.')


class Normalisation(NamedTuple):
    """How a data preprocessor maps a loaded (BGR) image to model input:
    ``(channels[order] - mean) / std``, padding filled with ``pad_value``
    after normalisation."""
    mean: Tensor
    std: Tensor
    flip: bool
    pad_value: float
    pad_size_divisor: int


def normalisation(preprocessor: nn.Module) -> Normalisation:
    """The :class:`Normalisation` of an mmengine ``ImgDataPreprocessor``
    (mmdet's ``DetDataPreprocessor`` included)."""
    mean = getattr(preprocessor, 'mean', None)
    std = getattr(preprocessor, 'std', None)
    if not getattr(preprocessor, '_enable_normalize', False) or mean is None:
        mean, std = torch.zeros(3), torch.ones(3)
    return Normalisation(
        mean=mean.detach().flatten().float().cpu(),
        std=std.detach().flatten().float().cpu(),
        flip=bool(getattr(preprocessor, '_channel_conversion', False)),
        pad_value=float(getattr(preprocessor, 'pad_value', 0)),
        pad_size_divisor=int(getattr(preprocessor, 'pad_size_divisor', 1)))


def check_preprocessors(student: nn.Module,
                        teacher: nn.Module) -> Optional[Normalisation]:
    """The teacher's :class:`Normalisation` when it differs from the
    student's, ``None`` when the student's batch suits the teacher as is.

    The teacher sees the student's geometry (resize, flip, padding, batch
    augments) with its own colour normalisation.

    Raises:
        TypeError: a preprocessor that is not an image preprocessor.
        ValueError: the student's padded batch is not a multiple of the
            teacher's ``pad_size_divisor``.
    """
    from mmengine.model import ImgDataPreprocessor
    for what, pre in (('student', student), ('teacher', teacher)):
        if not isinstance(pre, ImgDataPreprocessor):
            raise TypeError(
                f'the {what} detector\'s data_preprocessor is a '
                f'{type(pre).__name__}; RoIDCKDDistill needs image '
                'preprocessors (DetDataPreprocessor) to feed the teacher '
                'its own normalisation.')
    s, t = normalisation(student), normalisation(teacher)
    if s.pad_size_divisor % t.pad_size_divisor:
        raise ValueError(
            f'the student pads batches to multiples of {s.pad_size_divisor}'
            f' and the teacher needs multiples of {t.pad_size_divisor}: '
            'give the student a pad_size_divisor that the teacher\'s '
            'divides.')
    if (s.flip == t.flip and torch.equal(s.mean, t.mean)
            and torch.equal(s.std, t.std)
            and (s.pad_value == t.pad_value)):
        return None
    return t


def renormalise(inputs: Tensor, img_shapes: Sequence[Sequence[int]],
                src: Normalisation, dst: Normalisation) -> Tensor:
    """Turn a batch normalised by ``src`` into the batch ``dst`` gives.

    Args:
        inputs (Tensor): ``(N, 3, H, W)`` padded batch normalised by
            ``src``.
        img_shapes: the ``(h, w)`` of each image before padding (mmdet's
            ``img_shape``); everything right of ``w`` or below ``h`` is
            padding and becomes ``dst.pad_value``.
        src, dst (Normalisation): the student's and the teacher's.

    Returns:
        Tensor: ``(N, 3, H, W)``, equal (to float rounding) to the
        teacher's own preprocessor applied to the same augmented images.
    """
    shape = (1, -1, 1, 1)
    dev = inputs.device
    raw = inputs.float() * src.std.to(dev).view(shape) + src.mean.to(
        dev).view(shape)
    if src.flip != dst.flip:
        raw = raw.flip(1)
    out = (raw - dst.mean.to(dev).view(shape)) / dst.std.to(dev).view(shape)
    for i, (h, w) in enumerate(img_shapes):
        out[i, :, int(h):, :] = dst.pad_value
        out[i, :, :, int(w):] = dst.pad_value
    return out.to(inputs.dtype)
