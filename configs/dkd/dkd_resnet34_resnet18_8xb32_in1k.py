# DKD baseline (mmrazor loss, tau 1 as mmrazor's ImageNet configs) ResNet-34 ->
# ResNet-18, ImageNet-1k, 8 GPUs x 32.
_base_ = [
    '../_base_/datasets/imagenet_bs32.py',
    '../_base_/schedules/imagenet_bs256_120e.py',
    '../_base_/distill/logits_kd.py',
]

# Teacher checkpoint (mmpretrain keys): convert torchvision weights with
#   python tools/model_converters/convert_torchvision_resnet.py resnet34.pth \
#       checkpoints/imagenet/resnet34.pth --depth 34
# (or use an mmpretrain ImageNet checkpoint of the same architecture).
teacher_ckpt = 'checkpoints/imagenet/resnet34.pth'

model = dict(
    teacher_ckpt=teacher_ckpt,
    architecture=dict(
        backbone=dict(_delete_=True, type='ResNet', depth=18),
        head=dict(num_classes=1000, in_channels=512)),
    teacher=dict(
        backbone=dict(_delete_=True, type='ResNet', depth=34),
        head=dict(num_classes=1000, in_channels=512)),
    distiller=dict(
        # reduction='batchmean': mmrazor's 'mean' returns the batch sum
        distill_losses=dict(
            loss_dkd=dict(
                type='DKDLoss', tau=1, alpha=1.0, beta=0.5,
                reduction='batchmean')),
        loss_forward_mappings=dict(
            loss_dkd=dict(
                preds_S=dict(from_student=True, recorder='fc'),
                preds_T=dict(from_student=False, recorder='fc'),
                gt_labels=dict(
                    recorder='gt_labels', from_student=True, data_idx=1)))))
