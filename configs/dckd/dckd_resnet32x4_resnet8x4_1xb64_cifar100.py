# DCKD (SimKD feature loss + DCKD) resnet32x4 -> resnet8x4, CIFAR-100, 1 GPU x
# 64.
_base_ = [
    '../_base_/datasets/cifar100_bs64.py',
    '../_base_/schedules/cifar100_240e.py',
    '../_base_/distill/simkd_dckd.py',
]

# Teacher checkpoint: train configs/zoo/resnet32x4_1xb64_cifar100.py, or
# convert a RepDistiller/SimKD file with
#   tools/model_converters/convert_repdistiller_ckpt.py.
teacher_ckpt = 'checkpoints/cifar100/resnet32x4.pth'

model = dict(
    teacher_ckpt=teacher_ckpt,
    architecture=dict(
        backbone=dict(_delete_=True, type='CifarResNet', arch='resnet8x4'),
        head=dict(
            in_channels=256,
            projector=dict(in_channels=256, out_channels=256))),
    teacher=dict(
        backbone=dict(_delete_=True, type='CifarResNet', arch='resnet32x4'),
        head=dict(in_channels=256)))
