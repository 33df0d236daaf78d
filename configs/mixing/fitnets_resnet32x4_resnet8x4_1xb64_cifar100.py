# FitNets (Romero et al., ICLR 2015) alone: mmrazor's L2Loss between
# the student's second stage, through a ConvModuleConnector (BN,
# ReLU), and the teacher's second stage; loss weight 10 and the
# connector as mmrazor's fitnets config, one hint layer (the middle
# stage, RepDistiller's hint_layer=2); cross-entropy 1.
# resnet32x4 -> resnet8x4, CIFAR-100: the KD config of the pair (the
# _base_) with its logit loss replaced.
_base_ = ['../kd/kd_resnet32x4_resnet8x4_1xb64_cifar100.py']

model = dict(
    architecture=dict(head=dict(loss=dict(loss_weight=1.0))),
    distiller=dict(
        student_recorders=dict(
            stage2=dict(type='ModuleOutputs', source='backbone.layer2')),
        teacher_recorders=dict(
            stage2=dict(type='ModuleOutputs', source='backbone.layer2')),
        distill_losses=dict(
            _delete_=True,
            loss_fitnets=dict(type='L2Loss', loss_weight=10)),
        connectors=dict(
            loss_fitnets_sfeat=dict(
                type='ConvModuleConnector',
                in_channel=128,
                out_channel=128,
                norm_cfg=dict(type='BN'))),
        loss_forward_mappings=dict(
            _delete_=True,
            loss_fitnets=dict(
                s_feature=dict(
                    from_student=True,
                    recorder='stage2',
                    connector='loss_fitnets_sfeat'),
                t_feature=dict(from_student=False, recorder='stage2')))))
