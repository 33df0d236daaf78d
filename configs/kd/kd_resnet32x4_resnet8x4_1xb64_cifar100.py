# KD (Hinton et al.; mmrazor KLDivergence, tau 4) resnet32x4 -> resnet8x4.
_base_ = [
    '../_base_/datasets/cifar100_bs64.py',
    '../_base_/schedules/cifar100_240e.py',
    '../_base_/distill/logits_kd.py',
]

# Teacher checkpoint: train configs/zoo/resnet32x4_1xb64_cifar100.py, or
# convert a RepDistiller/SimKD file with
#   tools/model_converters/convert_repdistiller_ckpt.py.
teacher_ckpt = 'checkpoints/cifar100/resnet32x4.pth'

model = dict(
    teacher_ckpt=teacher_ckpt,
    architecture=dict(
        backbone=dict(_delete_=True, type='CifarResNet', arch='resnet8x4'),
        # RepDistiller's KD: cross-entropy 0.1, KD 0.9.
        head=dict(in_channels=256, loss=dict(loss_weight=0.1))),
    teacher=dict(
        backbone=dict(_delete_=True, type='CifarResNet', arch='resnet32x4'),
        head=dict(in_channels=256)),
    distiller=dict(
        distill_losses=dict(
            loss_kd=dict(type='KLDivergence', tau=4, loss_weight=0.9)),
        loss_forward_mappings=dict(
            loss_kd=dict(
                preds_S=dict(from_student=True, recorder='fc'),
                preds_T=dict(from_student=False, recorder='fc')))))
