# KD (mmrazor KLDivergence, tau 4; CE 0.1 + KD 0.9) resnet20 -> resnet8.
_base_ = [
    '../_base_/demo/digits_students.py',
    '../_base_/distill/logits_kd.py'
]
model = dict(
    teacher_ckpt={{_base_.teacher_ckpt}},
    architecture=dict(
        backbone=dict(arch='resnet8'),
        head=dict(num_classes=10, in_channels=64,
                  loss=dict(loss_weight=0.1))),
    teacher=dict(
        backbone=dict(arch='resnet20'),
        head=dict(num_classes=10, in_channels=64)),
    distiller=dict(
        distill_losses=dict(
            loss_kd=dict(type='KLDivergence', tau=4, loss_weight=0.9)),
        loss_forward_mappings=dict(
            loss_kd=dict(
                preds_S=dict(from_student=True, recorder='fc'),
                preds_T=dict(from_student=False, recorder='fc')))))
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=100, save_best=None, max_keep_ckpts=1))
randomness = dict(seed=0, deterministic=True)
