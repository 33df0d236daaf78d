# DCKD as a plain logit loss (drop-in for DKDLoss, student keeps its own
# classifier and task loss) resnet32x4 -> resnet8x4.
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
        head=dict(in_channels=256)),
    teacher=dict(
        backbone=dict(_delete_=True, type='CifarResNet', arch='resnet32x4'),
        head=dict(in_channels=256)),
    distiller=dict(
        distill_losses=dict(
            loss_dckd=dict(type='DCKDLoss', tau=4.0, alpha=1.0, beta=0.5)),
        loss_forward_mappings=dict(
            loss_dckd=dict(
                preds_S=dict(from_student=True, recorder='fc'),
                preds_T=dict(from_student=False, recorder='fc'),
                gt_labels=dict(
                    recorder='gt_labels', from_student=True, data_idx=1)))))
