# SimKD feature loss + plain KD (mmrazor KLDivergence, tau 4, weight 1) on
# the SimKD logits, resnet20 -> resnet8: the paper's "KD on top of the
# feature loss" ablation, to set against SimKD + DCKD.
_base_ = ['./dckd_resnet20_resnet8_1xb64_digits.py']
model = dict(
    distiller=dict(
        distill_losses=dict(
            _delete_=True,
            loss_feat=dict(type='SimKDFeatureLoss', loss_weight=1.0),
            loss_kd=dict(type='KLDivergence', tau=4, loss_weight=1.0)),
        loss_forward_mappings=dict(
            _delete_=True,
            loss_feat=dict(
                s_feature=dict(from_student=True, recorder='proj'),
                t_feature=dict(
                    from_student=False, recorder='feat', data_idx=-1)),
            loss_kd=dict(
                preds_S=dict(from_student=True, recorder='logits'),
                preds_T=dict(from_student=False, recorder='logits')))))
