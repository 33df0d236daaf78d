# Plain logit distillation with mmrazor's SingleTeacherDistill: recorders on
# head.fc of both models, labels from the student's loss module. The loss
# (KD, DKD or DCKD) is set by the config that inherits this file.
_base_ = ['../default_runtime.py']

model = dict(
    _scope_='mmrazor',
    type='SingleTeacherDistill',
    architecture=dict(
        _scope_='mmpretrain',
        type='ImageClassifier',
        backbone=dict(type='CifarResNet', arch='resnet8x4'),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(
            type='LinearClsHead',
            num_classes=100,
            in_channels=256,
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
            fc=dict(type='ModuleOutputs', source='head.fc'),
            gt_labels=dict(type='ModuleInputs', source='head.loss_module')),
        teacher_recorders=dict(
            fc=dict(type='ModuleOutputs', source='head.fc'))))

# Validation reports the student and the teacher.
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
