# Copyright (c) dckd_mm contributors. All rights reserved.
"""torchvision ResNet files -> mmpretrain ``ImageClassifier``, strictly:
the converted weights load into the model with every key and shape."""
from ..compat.safe_loading import safe_load
from ..errors import ConversionError
from ..models.builder import build_model
from ..utils.checkpoint import extract_state_dict
from .keymaps import convert_torchvision_resnet
from .result import ConversionResult
from .verify import check_exact, check_num_classes

__all__ = ['torchvision_resnet_cfg', 'convert_torchvision_file']

DEPTHS = (18, 34, 50, 101, 152)


def torchvision_resnet_cfg(depth: int, num_classes: int = 1000) -> dict:
    """The mmpretrain model config that torchvision's ResNet maps to.

    Raises:
        ConversionError: a depth torchvision has no ResNet of, or
            ``num_classes`` below 1.
    """
    check_num_classes(num_classes)
    if depth not in DEPTHS:
        raise ConversionError(f'unsupported ResNet depth {depth}; '
                              'choose 18, 34, 50, 101 or 152.')
    return dict(
        type='ImageClassifier',
        backbone=dict(type='ResNet', depth=depth),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(
            type='LinearClsHead',
            num_classes=num_classes,
            in_channels=512 if depth < 50 else 2048))


def convert_torchvision_file(src: str, depth: int,
                             num_classes: int = 1000) -> ConversionResult:
    """Convert the torchvision ResNet state dict in ``src``, or refuse.

    Args:
        src (str): a torchvision file (``resnet34-*.pth``, a bare state
            dict, or one under ``'state_dict'``/``'model'``).
        depth (int): 18, 34, 50, 101 or 152.
        num_classes (int): classes of its classifier.

    Returns:
        ConversionResult: weights that load strictly into
        :func:`torchvision_resnet_cfg`'s model.

    Raises:
        ConversionError: no state dict in the file, or keys or shapes that
            do not fit the ResNet of ``depth``.
    """
    cfg = torchvision_resnet_cfg(depth, num_classes)
    ckpt = safe_load(src)
    try:
        source = extract_state_dict(ckpt)
    except ValueError as err:
        raise ConversionError(f'{src}: {err}') from err
    state = convert_torchvision_resnet(source)
    model = build_model(cfg)
    check_exact(state, model.state_dict(), f'mmpretrain ResNet-{depth}')
    model.load_state_dict(state, strict=True)
    return ConversionResult(
        state, cfg, dict(source=src, depth=depth, converter='dckd_mm'))
