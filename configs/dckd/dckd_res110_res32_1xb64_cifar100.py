# DCKD (SimKD feature loss + DCKD) resnet110 -> resnet32, CIFAR-100, 1 GPU x
# 64.
_base_ = [
    '../_base_/datasets/cifar100_bs64.py',
    '../_base_/schedules/cifar100_240e.py',
    '../_base_/default_runtime.py',
    '../_base_/distill/simkd_dckd.py',
]

# Teacher checkpoint: train configs/teachers/resnet110_cifar100.py, or
# convert a RepDistiller/SimKD file with tools/convert_repdistiller_ckpt.py.
teacher_ckpt = 'checkpoints/cifar100/resnet110.pth'

model = dict(
    teacher_ckpt=teacher_ckpt,
    architecture=dict(
        backbone=dict(_delete_=True, type='CifarResNet', arch='resnet32'),
        head=dict(
            in_channels=64,
            projector=dict(in_channels=64, out_channels=64))),
    teacher=dict(
        backbone=dict(_delete_=True, type='CifarResNet', arch='resnet110'),
        head=dict(in_channels=64)))

# Validation reports the student and the teacher.
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
