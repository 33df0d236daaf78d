# DCKD (SimKD feature loss + DCKD) resnet32x4 -> ShuffleV2, CIFAR-100, 1 GPU x
# 64.
_base_ = [
    '../_base_/datasets/cifar100_bs64.py',
    '../_base_/schedules/cifar100_240e.py',
    '../_base_/default_runtime.py',
    '../_base_/distill/simkd_dckd.py',
]

# Teacher checkpoint: train configs/teachers/resnet32x4_cifar100.py, or
# convert a RepDistiller/SimKD file with tools/convert_repdistiller_ckpt.py.
teacher_ckpt = 'checkpoints/cifar100/resnet32x4.pth'

model = dict(
    teacher_ckpt=teacher_ckpt,
    architecture=dict(
        backbone=dict(_delete_=True, type='CifarShuffleNetV2', net_size=1.0),
        head=dict(
            in_channels=256,
            projector=dict(in_channels=1024, out_channels=256))),
    teacher=dict(
        backbone=dict(_delete_=True, type='CifarResNet', arch='resnet32x4'),
        head=dict(in_channels=256)))

# Validation reports the student and the teacher.
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')

# MobileNet/ShuffleNet students: initial lr 0.01 (DCKD recipe).
optim_wrapper = dict(optimizer=dict(lr=0.01))
