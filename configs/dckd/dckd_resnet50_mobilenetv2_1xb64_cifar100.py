# DCKD (SimKD feature loss + DCKD) ResNet50 -> MobileNetV2, CIFAR-100, 1 GPU x
# 64.
_base_ = [
    '../_base_/datasets/cifar100_bs64.py',
    '../_base_/schedules/cifar100_240e.py',
    '../_base_/default_runtime.py',
    '../_base_/distill/simkd_dckd.py',
]

# Teacher checkpoint: train configs/teachers/ResNet50_cifar100.py, or
# convert a RepDistiller/SimKD file with tools/convert_repdistiller_ckpt.py.
teacher_ckpt = 'checkpoints/cifar100/ResNet50.pth'

model = dict(
    teacher_ckpt=teacher_ckpt,
    architecture=dict(
        backbone=dict(_delete_=True, type='CifarMobileNetV2'),
        head=dict(
            in_channels=2048,
            projector=dict(in_channels=1280, out_channels=2048))),
    teacher=dict(
        backbone=dict(_delete_=True, type='CifarResNet50'),
        head=dict(in_channels=2048)))

# Validation reports the student and the teacher.
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')

# MobileNet/ShuffleNet students: initial lr 0.01 (DCKD recipe).
optim_wrapper = dict(optimizer=dict(lr=0.01))
