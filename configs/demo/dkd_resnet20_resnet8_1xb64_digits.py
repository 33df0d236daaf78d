# DKD (mmrazor DKDLoss, tau 4, alpha 1, beta 8, true batch mean) + CE,
# resnet20 -> resnet8.
_base_ = [
    '../_base_/demo/digits_students.py',
    '../_base_/distill/logits_kd.py'
]
model = dict(
    teacher_ckpt={{_base_.teacher_ckpt}},
    architecture=dict(
        backbone=dict(arch='resnet8'),
        head=dict(num_classes=10, in_channels=64)),
    teacher=dict(
        backbone=dict(arch='resnet20'),
        head=dict(num_classes=10, in_channels=64)),
    distiller=dict(
        distill_losses=dict(
            loss_dkd=dict(
                type='DKDLoss', tau=4, alpha=1.0, beta=8.0,
                reduction='batchmean')),
        loss_forward_mappings=dict(
            loss_dkd=dict(
                preds_S=dict(from_student=True, recorder='fc'),
                preds_T=dict(from_student=False, recorder='fc'),
                gt_labels=dict(
                    recorder='gt_labels', from_student=True,
                    data_idx=1)))))
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=100, save_best=None, max_keep_ckpts=1))
randomness = dict(seed=0, deterministic=True)
