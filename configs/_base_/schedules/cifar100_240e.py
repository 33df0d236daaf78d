# CIFAR-100 recipe of DCKD / RepDistiller: SGD (Nesterov, momentum 0.9),
# lr 0.05 (0.01 for MobileNet/ShuffleNet students), batch 64, weight decay
# 5e-4, 240 epochs, lr / 10 at epochs 150, 180 and 210.
optim_wrapper = dict(
    optimizer=dict(
        type='SGD', lr=0.05, momentum=0.9, nesterov=True,
        weight_decay=5e-4))
param_scheduler = dict(
    type='MultiStepLR', by_epoch=True, milestones=[150, 180, 210], gamma=0.1)
train_cfg = dict(by_epoch=True, max_epochs=240, val_interval=1)
# The recipe's total batch is 64 (1 GPU x 64).
auto_scale_lr = dict(base_batch_size=64)
