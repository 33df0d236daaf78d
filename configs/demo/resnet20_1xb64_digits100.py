# Teacher for the digits100 benchmark: resnet20 from scratch on all 8,000
# training composites (100 classes).
_base_ = [
    '../_base_/datasets/digits100_bs64.py',
    '../_base_/schedules/digits_short.py',
    '../_base_/default_runtime.py',
]
model = dict(
    type='ImageClassifier',
    backbone=dict(type='CifarResNet', arch='resnet20'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=100,
        in_channels=64,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))
default_hooks = dict(
    logger=dict(interval=25),
    checkpoint=dict(interval=100, save_best=None, max_keep_ckpts=1))
randomness = dict(seed=0, deterministic=True)
