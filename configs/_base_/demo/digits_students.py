# Shared by the digits distillation configs: data, schedule, runtime,
# seed, teacher path (written by tools/demo.py or set with --cfg-options).
_base_ = [
    '../datasets/digits_bs64.py',
    '../schedules/digits_short.py',
]
teacher_ckpt = 'work_dirs/demo/teacher/teacher.pth'

# Students see 200 labelled training images (the teacher saw all 1,437):
# with the full split every method saturates near 99.7% and the table says
# nothing; with few labels the teacher's knowledge matters.
train_dataloader = dict(dataset=dict(indices=200))
max_epochs = 30
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = dict(milestones=[18, 24])
