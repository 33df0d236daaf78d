# SimKD feature loss + DCKD (the paper's setting) resnet20 -> resnet8.
_base_ = [
    '../_base_/demo/digits_students.py',
    '../_base_/distill/simkd_dckd.py'
]
model = dict(
    teacher_ckpt={{_base_.teacher_ckpt}},
    architecture=dict(
        backbone=dict(arch='resnet8'),
        head=dict(
            num_classes=10,
            in_channels=64,
            projector=dict(in_channels=64, out_channels=64))),
    teacher=dict(
        backbone=dict(arch='resnet20'),
        head=dict(num_classes=10, in_channels=64)))
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=100, save_best=None, max_keep_ckpts=1))
randomness = dict(seed=0, deterministic=True)
