# RKD (Park et al., CVPR 2019) alone: mmrazor's DistanceWiseRKD (weight
# 25) and AngleWiseRKD (weight 50) on the pooled features (neck.gap),
# as mmrazor's rkd config; cross-entropy 1.
# resnet20 -> resnet8, digits100: the KD config of the pair (the
# _base_) with its logit loss replaced.
_base_ = ['./kd_resnet20_resnet8_1xb64_digits100.py']

model = dict(
    architecture=dict(head=dict(loss=dict(loss_weight=1.0))),
    distiller=dict(
        student_recorders=dict(
            feat=dict(type='ModuleOutputs', source='neck.gap')),
        teacher_recorders=dict(
            feat=dict(type='ModuleOutputs', source='neck.gap')),
        distill_losses=dict(
            _delete_=True,
            loss_dw=dict(
                type='DistanceWiseRKD', with_l2_norm=True, loss_weight=25),
            loss_aw=dict(
                type='AngleWiseRKD', with_l2_norm=True, loss_weight=50)),
        loss_forward_mappings=dict(
            _delete_=True,
            loss_dw=dict(
                preds_S=dict(from_student=True, recorder='feat'),
                preds_T=dict(from_student=False, recorder='feat')),
            loss_aw=dict(
                preds_S=dict(from_student=True, recorder='feat'),
                preds_T=dict(from_student=False, recorder='feat')))))
