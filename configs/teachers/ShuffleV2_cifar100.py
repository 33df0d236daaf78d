# ShuffleV2 trained from scratch on CIFAR-100 (RepDistiller recipe).
_base_ = [
    '../_base_/datasets/cifar100_bs64.py',
    '../_base_/schedules/cifar100_240e.py',
    '../_base_/default_runtime.py',
]

model = dict(
    type='ImageClassifier',
    backbone=dict(type='CifarShuffleNetV2', net_size=1.0),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=100,
        in_channels=1024,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))

# MobileNet/ShuffleNet students: initial lr 0.01 (DCKD recipe).
optim_wrapper = dict(optimizer=dict(lr=0.01))
