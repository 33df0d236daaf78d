# Copyright (c) dckd_mm contributors. All rights reserved.
"""FPN levels at the strides the anchors and the RoI extractors assume.

A misaligned pyramid trains without any error: RoIs are pooled at the
wrong scale, anchors cover part of the image, and level-wise feature
losses compare different levels. :func:`check_pyramid` measures each
level's stride with a dummy forward and refuses such configs.
"""
from typing import Dict, List

import torch
from torch import nn

from ...errors import ConfigError

__all__ = ['pyramid_strides', 'check_pyramid']


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
    running statistic changes).

    ``size=128`` tells strides up to 128 apart (the coarsest level is then
    1 x 1) at a quarter of the cost of 256.
    """
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

    Args:
        student, teacher (nn.Module): the two mmdet detectors.
        size (int): side of the dummy input (:func:`pyramid_strides`).

    Returns:
        dict: ``{'student': strides, 'teacher': strides}``.

    Raises:
        ConfigError: naming the detector, the levels and both strides.
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
                raise ConfigError(
                    f'{what} detector: its neck outputs levels at strides '
                    f'{strides} but the RPN anchor generator assumes '
                    f'{anchors}. Choose backbone out_indices (and the '
                    'neck\'s num_outs) so that level i has stride '
                    f'{anchors}[i]; for mmdet\'s MobileNetV2 that is '
                    'out_indices=(1, 2, 4, 6) with in_channels=[24, 32, 96, '
                    '320].')
        for stage, roi in enumerate(_roi_strides(model)):
            if strides[:len(roi)] != roi:
                raise ConfigError(
                    f'{what} detector: an RoI extractor (number {stage}) '
                    f'pools levels at strides {roi} but the neck outputs '
                    f'{strides[:len(roi)]}: RoIs would be pooled at the '
                    'wrong coordinates. Align featmap_strides with the '
                    'neck.')
    if found['student'] != found['teacher']:
        raise ConfigError(
            f'student FPN levels are at strides {found["student"]} and the '
            f'teacher\'s at {found["teacher"]}: level-wise feature losses '
            'would compare different scales. Give both necks the same '
            'levels.')
    return found
