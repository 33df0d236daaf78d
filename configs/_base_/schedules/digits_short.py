# Short schedule for the embedded digits demo (CPU minutes, not GPU days):
# the CIFAR recipe's optimizer (SGD Nesterov 0.9, lr 0.05, wd 5e-4) with
# the lr divided by 10 at 60% and 80% of the epochs.
max_epochs = 12
optim_wrapper = dict(
    optimizer=dict(
        type='SGD', lr=0.05, momentum=0.9, nesterov=True,
        weight_decay=5e-4))
param_scheduler = dict(
    type='MultiStepLR', by_epoch=True, milestones=[7, 10], gamma=0.1)
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=100)
