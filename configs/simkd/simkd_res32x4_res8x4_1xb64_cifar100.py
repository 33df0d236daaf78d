# SimKD alone (feature loss, reused teacher classifier) resnet32x4 ->
# resnet8x4.
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
        backbone=dict(_delete_=True, type='CifarResNet', arch='resnet8x4'),
        head=dict(
            in_channels=256,
            projector=dict(in_channels=256, out_channels=256))),
    teacher=dict(
        backbone=dict(_delete_=True, type='CifarResNet', arch='resnet32x4'),
        head=dict(in_channels=256)),
    distiller=dict(
        distill_losses=dict(_delete_=True, loss_feat=dict(
            type='SimKDFeatureLoss', loss_weight=1.0)),
        loss_forward_mappings=dict(_delete_=True, loss_feat=dict(
            s_feature=dict(from_student=True, recorder='proj'),
            t_feature=dict(
                from_student=False, recorder='feat', data_idx=-1)))))

# Validation reports the student and the teacher.
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
