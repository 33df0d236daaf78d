# Copyright (c) dckd_mm contributors. All rights reserved.
"""RepDistiller/SimKD-compatible CIFAR backbones, in mmpretrain's MODELS."""
from .cifar_mobilenetv2 import CifarMobileNetV2
from .cifar_resnet import CIFAR_RESNET_ARCHS, CifarResNet, CifarResNet50
from .cifar_shufflenet import CifarShuffleNetV1, CifarShuffleNetV2
from .cifar_vgg import CIFAR_VGG_ARCHS, CifarVGG
from .cifar_wrn import CIFAR_WRN_ARCHS, CifarWideResNet

__all__ = [
    'CifarResNet', 'CifarResNet50', 'CifarWideResNet', 'CifarVGG',
    'CifarMobileNetV2', 'CifarShuffleNetV1', 'CifarShuffleNetV2',
    'CIFAR_RESNET_ARCHS', 'CIFAR_WRN_ARCHS', 'CIFAR_VGG_ARCHS'
]
