# Mixing: SimKD feature loss + DCKD + mmrazor's ATLoss (attention transfer,
# Zagoruyko & Komodakis 2017) on the second stage of both networks,
# resnet32x4 -> resnet8x4, CIFAR-100, 1 GPU x 64. Each loss is logged under
# its name here (distill.loss_feat, distill.loss_dckd, distill.loss_at).
_base_ = ['./dckd_resnet32x4_resnet8x4_1xb64_cifar100.py']

model = dict(
    distiller=dict(
        student_recorders=dict(
            stage2=dict(type='ModuleOutputs', source='backbone.layer2')),
        teacher_recorders=dict(
            stage2=dict(type='ModuleOutputs', source='backbone.layer2')),
        distill_losses=dict(loss_at=dict(type='ATLoss', loss_weight=1.0)),
        loss_forward_mappings=dict(
            loss_at=dict(
                s_feature=dict(from_student=True, recorder='stage2'),
                t_feature=dict(from_student=False, recorder='stage2')))))
