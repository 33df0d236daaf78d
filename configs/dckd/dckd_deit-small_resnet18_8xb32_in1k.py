# DCKD (SimKD feature loss + DCKD) DeiT-small -> ResNet-18, ImageNet-1k, 8
# GPUs x 32: a transformer teacher and a CNN student.
#
# The reused classifier is the teacher's head.layers.head (its
# VisionTransformerClsHead has no hidden layer). Its input is the cls token
# after the final LayerNorm, (N, 384), not a pooled map, so the SimKD feature
# loss compares the two classifier inputs: the student's pooled projection
# (the input of its head.fc) and the teacher's cls token (the input of
# head.layers.head). The projector maps ResNet-18's (N, 512, 7, 7) to
# (N, 384, 7, 7) and ends with BN, no ReLU: the token has negative entries.
# docs/method.md, "Heterogeneous pairs".
_base_ = [
    '../_base_/datasets/imagenet_bs32.py',
    '../_base_/schedules/imagenet_bs256_120e.py',
    '../_base_/distill/simkd_dckd.py',
]

# Teacher checkpoint: mmpretrain's deit-small_4xb256_in1k weights (mmpretrain
# keys: backbone.*, head.layers.head.*), or any checkpoint of this teacher.
# Trained with the same ImageNet mean and std as the ResNet pipeline here.
teacher_ckpt = 'checkpoints/imagenet/deit-small.pth'

model = dict(
    teacher_ckpt=teacher_ckpt,
    architecture=dict(
        backbone=dict(_delete_=True, type='ResNet', depth=18),
        head=dict(
            num_classes=1000,
            in_channels=384,
            projector=dict(in_channels=512, out_channels=384,
                           out_act=False))),
    teacher=dict(
        backbone=dict(
            _delete_=True,
            type='VisionTransformer',
            arch='deit-small',
            img_size=224,
            patch_size=16),
        neck=None,
        head=dict(
            _delete_=True,
            type='VisionTransformerClsHead',
            num_classes=1000,
            in_channels=384,
            loss=dict(type='CrossEntropyLoss', loss_weight=1.0))),
    distiller=dict(
        student_recorders=dict(
            _delete_=True,
            pooled=dict(type='ModuleInputs', source='head.fc'),
            logits=dict(type='ModuleOutputs', source='head.fc'),
            gt_labels=dict(type='ModuleInputs', source='head.loss_module')),
        teacher_recorders=dict(
            _delete_=True,
            cls_token=dict(type='ModuleInputs', source='head.layers.head'),
            logits=dict(type='ModuleOutputs', source='head.layers.head')),
        loss_forward_mappings=dict(
            loss_feat=dict(
                _delete_=True,
                s_feature=dict(
                    from_student=True, recorder='pooled', data_idx=0),
                t_feature=dict(
                    from_student=False, recorder='cls_token',
                    data_idx=0)))))
