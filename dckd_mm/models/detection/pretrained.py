# Copyright (c) dckd_mm contributors. All rights reserved.
"""A student backbone that starts from ImageNet weights found on this
machine.

mmdet's detection recipes freeze the stem and the first stage and keep BN
statistics fixed, so a student that silently trains from random weights
(a missing file, a file whose keys do not fit) stays partly random for the
whole run. :func:`check_student_init` refuses that at build time;
:func:`resolve_pretrained` and :func:`check_loaded` make the
``Pretrained`` file local and fitting before mmengine loads it (mmengine
would download it, or load it with ``strict=False``).
"""
import os.path as osp
from typing import List, Mapping
from urllib.parse import urlparse

import torch
from torch import nn

from ...errors import CheckpointError, ConfigError, MissingFileError

__all__ = [
    'resolve_pretrained', 'pretrained_cfgs', 'check_student_init',
    'check_loaded'
]


def _mmengine_home() -> str:
    """mmengine's home folder, where relative ``open-mmlab://`` entries
    live (``$MMENGINE_HOME``, else ``$XDG_CACHE_HOME/mmengine``, else
    ``~/.cache/mmengine``; mmengine creates it).

    mmengine 0.10.7 has no public function for it, only the private
    ``mmengine.runner.checkpoint._get_mmengine_home`` that its own
    ``open-mmlab://`` loader calls. It is called here, and only here, so
    that the folder is always the one mmengine itself would read.
    """
    from mmengine.runner.checkpoint import _get_mmengine_home
    return _get_mmengine_home()


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

    Args:
        checkpoint (str): an ``init_cfg.checkpoint`` value.

    Returns:
        str: the local path (or the unchanged remote name).

    Raises:
        MissingFileError: the file is not on this machine; the message
            names it and, for a URL, where to fetch it from.
        KeyError: an unknown ``torchvision://`` / ``open-mmlab://`` /
            ``mmcls://`` name.
    """
    from mmengine.runner.checkpoint import (get_deprecated_model_names,
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
            url, path = None, osp.join(_mmengine_home(), url)
    elif checkpoint.startswith(('http://', 'https://')):
        url = checkpoint
    elif '://' in checkpoint:
        return checkpoint  # s3://, petrel://, ...: read by mmengine
    else:
        path = osp.expanduser(checkpoint)
    if url is None:
        if not osp.isfile(path):
            raise MissingFileError(
                f'student backbone weights {checkpoint!r} ({path}) do not '
                'exist. Point init_cfg.checkpoint at an ImageNet checkpoint '
                'of the backbone (see docs/detection.md), or train from '
                'scratch on purpose with model.student_from_scratch=True '
                'and backbone.init_cfg=None.')
        return path
    path = osp.join(torch.hub.get_dir(), 'checkpoints',
                    osp.basename(urlparse(url).path))
    if not osp.isfile(path):
        raise MissingFileError(
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

    Args:
        student (nn.Module): the student detector.
        from_scratch (bool): ``model.student_from_scratch``.

    Raises:
        ConfigError: no ``Pretrained`` init (of the detector or its
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
            raise ConfigError(
                'student_from_scratch=True, but the student still loads '
                f'{pretrained[0].get("checkpoint")!r} (a Pretrained '
                'init_cfg). Set model.architecture.backbone.init_cfg=None '
                '(and the detector\'s init_cfg, if it has one) to train '
                'from scratch.')
        if (frozen is not None and frozen >= 0) or norm_eval:
            raise ConfigError(
                f'student_from_scratch=True, but the student {name} keeps '
                f'frozen_stages={frozen} and norm_eval={norm_eval}: its '
                'frozen layers would stay at random weights and its BN '
                'statistics at 0/1. Set backbone frozen_stages=-1 and '
                'norm_eval=False for from-scratch training.')
        return
    if not pretrained:
        raise ConfigError(
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
        CheckpointError: naming how many tensors the file fits and
            examples of the keys that do not.
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
        raise CheckpointError(
            f'{path} fits only {len(params) - len(missing)} of the '
            f'{len(params)} parameter tensors of the student\'s '
            f'{type(module).__name__} (e.g. {missing[:3]} are not in it '
            f'with that shape; the file has {list(state)[:3]}): mmengine '
            'would load what fits and leave the rest at random values. For '
            'an mmpretrain classifier checkpoint add prefix=\'backbone.\' '
            'to the init_cfg; otherwise convert the file to the model\'s '
            'key names.')
