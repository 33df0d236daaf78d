# Teacher for the digits demo: resnet20 from scratch.
_base_ = [
    '../_base_/datasets/digits_bs64.py',
    '../_base_/schedules/digits_short.py',
    '../_base_/default_runtime.py',
]
model = dict(
    type='ImageClassifier',
    backbone=dict(type='CifarResNet', arch='resnet20'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=64,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=100, save_best=None, max_keep_ckpts=1))
randomness = dict(seed=0, deterministic=True)
