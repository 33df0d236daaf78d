# DCKD (SimKD feature loss + DCKD) resnet38x2 -> resnet8x4, CIFAR-100, 1 GPU x
# 64. Student and teacher are built from their CIFAR zoo entries: the student's
# projector reads its SimKD feature tap (SimKD's feat_s[-2]), see
# docs/simkd_students.md.
_base_ = [
    '../_base_/datasets/cifar100_bs64.py',
    '../_base_/schedules/cifar100_240e.py',
    '../_base_/distill/simkd_dckd.py',
]

from dckd_mm.models.zoo import simkd_pair_model  # noqa: E402

# Teacher checkpoint: train configs/zoo/resnet38x2_1xb64_cifar100.py, or
# convert a RepDistiller/SimKD file with
#   tools/model_converters/convert_repdistiller_ckpt.py.
teacher_ckpt = 'checkpoints/cifar100/resnet38x2.pth'

model = dict(
    teacher_ckpt=teacher_ckpt,
    **simkd_pair_model(
        teacher='resnet38x2', student='resnet8x4', num_classes=100))
