# The short name of the paper's headline pair, kept for the command
#   python tools/train.py configs/dckd/res32x4_res8x4_cifar100.py
# It is exactly dckd_resnet32x4_resnet8x4_1xb64_cifar100.py (SimKD feature
# loss + DCKD, resnet32x4 -> resnet8x4, CIFAR-100, 1 GPU x 64).
_base_ = ['./dckd_resnet32x4_resnet8x4_1xb64_cifar100.py']
