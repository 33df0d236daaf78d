# SimKD feature loss + plain KD on the SimKD logits,
# resnet20 -> resnet8 on digits100: the digits config with the 100-class
# data of ../_base_/datasets/digits100_bs64.py; the student sees the first
# 600 training composites (6 per class), as resnet8_1xb64_digits100.py.
_base_ = ['./simkd_kd_resnet20_resnet8_1xb64_digits.py']
teacher_ckpt = 'work_dirs/digits100/teacher/teacher.pth'
model = dict(
    teacher_ckpt=teacher_ckpt,
    architecture=dict(head=dict(num_classes=100)),
    teacher=dict(head=dict(num_classes=100)))
data_preprocessor = dict(
    num_classes=100, mean=[38.95, 38.95, 38.95], std=[78.19, 78.19, 78.19])
train_dataloader = dict(
    dataset=dict(
        type='Digits100Dataset',
        indices=600,
        pipeline=[
            dict(type='RandomCrop', crop_size=16, padding=1),
            dict(type='PackInputs')
        ]))
val_dataloader = dict(batch_size=500, dataset=dict(type='Digits100Dataset'))
test_dataloader = val_dataloader
