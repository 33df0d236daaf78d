# SimKD feature distillation + DCKD logit loss (the paper's setting).
# The student's head is a SimKDClsHead: projector + a frozen copy of the
# teacher classifier (filled by SimKDDistill); its logits, in training and
# inference, are fc_T(GAP(projector(f_S))). Pair configs set the backbones,
# channels and teacher_ckpt.
_base_ = ['../default_runtime.py']

model = dict(
    _scope_='mmrazor',
    type='SimKDDistill',
    architecture=dict(
        _scope_='mmpretrain',
        type='ImageClassifier',
        backbone=dict(type='CifarResNet', arch='resnet8x4'),
        neck=None,
        head=dict(
            type='SimKDClsHead',
            num_classes=100,
            in_channels=256,
            projector=dict(
                type='SimKDProjector',
                in_channels=256,
                out_channels=256,
                factor=2),
            loss=dict(type='CrossEntropyLoss', loss_weight=1.0))),
    teacher=dict(
        _scope_='mmpretrain',
        type='ImageClassifier',
        backbone=dict(type='CifarResNet', arch='resnet32x4'),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(
            type='LinearClsHead',
            num_classes=100,
            in_channels=256,
            loss=dict(type='CrossEntropyLoss', loss_weight=1.0))),
    distiller=dict(
        type='ConfigurableDistiller',
        student_recorders=dict(
            proj=dict(type='ModuleOutputs', source='head.projector'),
            logits=dict(type='ModuleOutputs', source='head.fc'),
            gt_labels=dict(type='ModuleInputs', source='head.loss_module')),
        teacher_recorders=dict(
            feat=dict(type='ModuleOutputs', source='backbone'),
            logits=dict(type='ModuleOutputs', source='head.fc')),
        distill_losses=dict(
            loss_feat=dict(type='SimKDFeatureLoss', loss_weight=1.0),
            loss_dckd=dict(
                type='DCKDLoss',
                tau=4.0,
                alpha=1.0,
                beta=0.5,
                mask='as_good_as_teacher',
                parts='both')),
        loss_forward_mappings=dict(
            loss_feat=dict(
                s_feature=dict(from_student=True, recorder='proj'),
                t_feature=dict(
                    from_student=False, recorder='feat', data_idx=-1)),
            loss_dckd=dict(
                preds_S=dict(from_student=True, recorder='logits'),
                preds_T=dict(from_student=False, recorder='logits'),
                gt_labels=dict(
                    from_student=True, recorder='gt_labels',
                    data_idx=1)))))

# Validation reports the student and the teacher.
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
