# DCKD's ImageNet recipe: SGD momentum 0.9, lr 0.1 for a total batch of 256,
# weight decay 1e-4, 120 epochs, lr / 10 at epochs 30, 60 and 90.
# Linear scaling: with another total batch B, use lr 0.1 * B / 256
# (or train with tools/train.py ... --auto-scale-lr).
#
# mmpretrain's schedules/imagenet_bs256.py with 120 epochs instead of 100,
# written out rather than inherited: that file also sets val_cfg and
# test_cfg, which ../default_runtime.py sets here (and the distillation
# skeletons under ../distill/ replace), and mmengine refuses a key that two
# bases of one config both define.
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4))
param_scheduler = dict(
    type='MultiStepLR', by_epoch=True, milestones=[30, 60, 90], gamma=0.1)
train_cfg = dict(by_epoch=True, max_epochs=120, val_interval=1)
auto_scale_lr = dict(base_batch_size=256)
