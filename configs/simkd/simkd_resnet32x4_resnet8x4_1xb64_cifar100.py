# SimKD alone (feature loss, reused teacher classifier) resnet32x4 ->
# resnet8x4: the DCKD config with its logit loss removed, so that the two
# differ in nothing else (teacher checkpoint, data, recipe).
_base_ = ['../dckd/dckd_resnet32x4_resnet8x4_1xb64_cifar100.py']

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
