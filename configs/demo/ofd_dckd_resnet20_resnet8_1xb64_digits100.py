# OFD + DCKD: OFD alone (the _base_) plus DCKDLoss on the
# student's own logits (tau 4, alpha 1, beta 0.5, weight 1), cross-entropy 1,
# as configs/dckd/dckd_logits_resnet32x4_resnet8x4_1xb64_cifar100.py.
_base_ = ['./ofd_resnet20_resnet8_1xb64_digits100.py']

model = dict(
    distiller=dict(
        distill_losses=dict(
            loss_dckd=dict(type='DCKDLoss', tau=4.0, alpha=1.0, beta=0.5)),
        loss_forward_mappings=dict(
            loss_dckd=dict(
                preds_S=dict(from_student=True, recorder='fc'),
                preds_T=dict(from_student=False, recorder='fc'),
                gt_labels=dict(
                    recorder='gt_labels', from_student=True, data_idx=1)))))
