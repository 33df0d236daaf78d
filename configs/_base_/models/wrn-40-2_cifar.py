# wrn_40_2 for 32x32 inputs (RepDistiller/SimKD CIFAR zoo),
# as built by dckd_mm.models.zoo.cifar_classifier_cfg('wrn_40_2')
# (a test keeps the two equal).
model = dict(
    type='mmpretrain.ImageClassifier',
    backbone=dict(
        type='CifarWideResNet',
        arch='wrn_40_2'),
    neck=dict(
        type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=100,
        in_channels=128,
        loss=dict(
            type='CrossEntropyLoss',
            loss_weight=1.0)))
