# AT (Zagoruyko & Komodakis, ICLR 2017) alone: mmrazor's ATLoss on the
# output of each of the three stages, weight 1000 each (RepDistiller's
# beta for AT; mmrazor's ATLoss computes the same mean squared
# difference of normalised attention maps); cross-entropy 1.
# resnet20 -> resnet8, digits100: the KD config of the pair (the
# _base_) with its logit loss replaced.
_base_ = ['./kd_resnet20_resnet8_1xb64_digits100.py']

model = dict(
    architecture=dict(head=dict(loss=dict(loss_weight=1.0))),
    distiller=dict(
        student_recorders=dict(
            stage1=dict(type='ModuleOutputs', source='backbone.layer1'),
            stage2=dict(type='ModuleOutputs', source='backbone.layer2'),
            stage3=dict(type='ModuleOutputs', source='backbone.layer3')),
        teacher_recorders=dict(
            stage1=dict(type='ModuleOutputs', source='backbone.layer1'),
            stage2=dict(type='ModuleOutputs', source='backbone.layer2'),
            stage3=dict(type='ModuleOutputs', source='backbone.layer3')),
        distill_losses=dict(
            _delete_=True,
            loss_at1=dict(type='ATLoss', loss_weight=1000),
            loss_at2=dict(type='ATLoss', loss_weight=1000),
            loss_at3=dict(type='ATLoss', loss_weight=1000)),
        loss_forward_mappings=dict(
            _delete_=True,
            loss_at1=dict(
                s_feature=dict(from_student=True, recorder='stage1'),
                t_feature=dict(from_student=False, recorder='stage1')),
            loss_at2=dict(
                s_feature=dict(from_student=True, recorder='stage2'),
                t_feature=dict(from_student=False, recorder='stage2')),
            loss_at3=dict(
                s_feature=dict(from_student=True, recorder='stage3'),
                t_feature=dict(from_student=False, recorder='stage3')))))
