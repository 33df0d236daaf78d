# SimKD alone (feature loss, reused teacher classifier) resnet20 -> resnet8.
_base_ = ['./dckd_resnet20_resnet8_1xb64_digits.py']
model = dict(
    distiller=dict(
        distill_losses=dict(
            _delete_=True,
            loss_feat=dict(type='SimKDFeatureLoss', loss_weight=1.0)),
        loss_forward_mappings=dict(
            _delete_=True,
            loss_feat=dict(
                s_feature=dict(from_student=True, recorder='proj'),
                t_feature=dict(
                    from_student=False, recorder='feat', data_idx=-1)))))
