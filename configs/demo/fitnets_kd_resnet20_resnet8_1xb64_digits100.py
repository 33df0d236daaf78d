# FitNets + KD: FitNets alone (the _base_) plus mmrazor's
# KLDivergence on the logits (tau 4), weighted as configs/kd:
# cross-entropy 0.1, KD 0.9.
_base_ = ['./fitnets_resnet20_resnet8_1xb64_digits100.py']

model = dict(
    architecture=dict(head=dict(loss=dict(loss_weight=0.1))),
    distiller=dict(
        distill_losses=dict(
            loss_kd=dict(type='KLDivergence', tau=4, loss_weight=0.9)),
        loss_forward_mappings=dict(
            loss_kd=dict(
                preds_S=dict(from_student=True, recorder='fc'),
                preds_T=dict(from_student=False, recorder='fc')))))
