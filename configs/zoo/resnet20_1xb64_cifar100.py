# resnet20 trained from scratch on CIFAR-100 (RepDistiller recipe): a
# teacher, or the "student alone" baseline.
_base_ = [
    '../_base_/models/resnet20_cifar.py',
    '../_base_/datasets/cifar100_bs64.py',
    '../_base_/schedules/cifar100_240e.py',
    '../_base_/default_runtime.py',
]
