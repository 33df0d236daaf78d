# KD baseline (mmrazor loss, tau 1 as mmrazor's ImageNet configs) ResNet-50 ->
# MobileNetV2, ImageNet-1k, 8 GPUs x 32: the ResNet-34 -> ResNet-18 config
# with other networks.
_base_ = ['./kd_resnet34_resnet18_8xb32_in1k.py']

# Teacher checkpoint (mmpretrain keys): convert torchvision weights with
#   python tools/model_converters/convert_torchvision_resnet.py resnet50.pth \
#       checkpoints/imagenet/resnet50.pth --depth 50
# (or use an mmpretrain ImageNet checkpoint of the same architecture).
teacher_ckpt = 'checkpoints/imagenet/resnet50.pth'

model = dict(
    teacher_ckpt=teacher_ckpt,
    architecture=dict(
        backbone=dict(_delete_=True, type='MobileNetV2', widen_factor=1.0),
        head=dict(num_classes=1000, in_channels=1280)),
    teacher=dict(
        backbone=dict(_delete_=True, type='ResNet', depth=50),
        head=dict(num_classes=1000, in_channels=2048)))
