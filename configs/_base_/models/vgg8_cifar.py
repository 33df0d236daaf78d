# vgg8 for 32x32 inputs (RepDistiller/SimKD CIFAR zoo),
# as built by dckd_mm.models.zoo.cifar_classifier_cfg('vgg8')
# (a test keeps the two equal).
model = dict(
    type='mmpretrain.ImageClassifier',
    backbone=dict(
        type='CifarVGG',
        arch='vgg8'),
    neck=dict(
        type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=100,
        in_channels=512,
        loss=dict(
            type='CrossEntropyLoss',
            loss_weight=1.0)))
