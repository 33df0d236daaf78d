# The student alone (no teacher) on digits100: resnet8, cross-entropy.
_base_ = ['./teacher_resnet20_digits100.py']
model = dict(backbone=dict(arch='resnet8'))

# Students see the first 600 training composites (6 per class; the teacher
# saw all 8,000): with few labels the student alone falls clearly behind
# the teacher, as on CIFAR-100, and the teacher's knowledge matters.
train_dataloader = dict(dataset=dict(indices=600))
max_epochs = 30
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = dict(milestones=[18, 24])
