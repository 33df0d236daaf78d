# OFD (Heo et al., ICCV 2019) alone: mmrazor's OverhaulFeatureDistillation
# with its OFDDistiller, OFDLoss (weights 0.25, 0.5, 1 for the three
# stages), a ConvModuleConnector (BN, no activation) on the student and
# OFDTeacherConnector (margin from the teacher's BN) on the teacher, as
# mmrazor's ofd config. Recorded: the last BN before the final ReLU of
# each stage (bn2 of its last block, OFD's `get_bn_before_relu` for a
# BasicBlock); mmrazor records that BN's output, before the residual
# sum, where OFD's own code takes the sum. Cross-entropy 1.
# resnet32x4 -> resnet8x4, CIFAR-100: the KD config of the pair (the
# _base_) with its logit loss replaced.
_base_ = ['../kd/kd_resnet32x4_resnet8x4_1xb64_cifar100.py']

model = dict(
    type='OverhaulFeatureDistillation',
    architecture=dict(head=dict(loss=dict(loss_weight=1.0))),
    distiller=dict(
        type='OFDDistiller',
        student_recorders=dict(
            bn1=dict(type='ModuleOutputs', source='backbone.layer1.0.bn2'),
            bn2=dict(type='ModuleOutputs', source='backbone.layer2.0.bn2'),
            bn3=dict(type='ModuleOutputs', source='backbone.layer3.0.bn2')),
        teacher_recorders=dict(
            bn1=dict(type='ModuleOutputs', source='backbone.layer1.4.bn2'),
            bn2=dict(type='ModuleOutputs', source='backbone.layer2.4.bn2'),
            bn3=dict(type='ModuleOutputs', source='backbone.layer3.4.bn2')),
        distill_losses=dict(
            _delete_=True,
            loss_ofd1=dict(type='OFDLoss', loss_weight=0.25),
            loss_ofd2=dict(type='OFDLoss', loss_weight=0.5),
            loss_ofd3=dict(type='OFDLoss', loss_weight=1.0)),
        connectors=dict(
            loss_ofd1_sfeat=dict(
                type='ConvModuleConnector',
                in_channel=64,
                out_channel=64,
                norm_cfg=dict(type='BN'),
                act_cfg=None),
            loss_ofd1_tfeat=dict(type='OFDTeacherConnector'),
            loss_ofd2_sfeat=dict(
                type='ConvModuleConnector',
                in_channel=128,
                out_channel=128,
                norm_cfg=dict(type='BN'),
                act_cfg=None),
            loss_ofd2_tfeat=dict(type='OFDTeacherConnector'),
            loss_ofd3_sfeat=dict(
                type='ConvModuleConnector',
                in_channel=256,
                out_channel=256,
                norm_cfg=dict(type='BN'),
                act_cfg=None),
            loss_ofd3_tfeat=dict(type='OFDTeacherConnector')),
        loss_forward_mappings=dict(
            _delete_=True,
            loss_ofd1=dict(
                s_feature=dict(
                    from_student=True,
                    recorder='bn1',
                    connector='loss_ofd1_sfeat'),
                t_feature=dict(
                    from_student=False,
                    recorder='bn1',
                    connector='loss_ofd1_tfeat')),
            loss_ofd2=dict(
                s_feature=dict(
                    from_student=True,
                    recorder='bn2',
                    connector='loss_ofd2_sfeat'),
                t_feature=dict(
                    from_student=False,
                    recorder='bn2',
                    connector='loss_ofd2_tfeat')),
            loss_ofd3=dict(
                s_feature=dict(
                    from_student=True,
                    recorder='bn3',
                    connector='loss_ofd3_sfeat'),
                t_feature=dict(
                    from_student=False,
                    recorder='bn3',
                    connector='loss_ofd3_tfeat')))))
