# DCKD on the RoI classifier: Faster R-CNN R50-FPN -> MobileNetV2-FPN, COCO
# 2017, 1x, 8 GPUs x 2 (mdistiller's DKD-MV2-R50 pair). The student's FPN
# takes MobileNetV2's stride-4/8/16/32 outputs (24, 32, 96 and 320
# channels; mdistiller's m2-m5), the levels the anchors and RoIAlign of the
# Faster R-CNN recipe assume. No stage is frozen (mdistiller's FREEZE_AT=0)
# and BN statistics stay fixed (norm_eval; mdistiller's FrozenBN also fixes
# the BN scale and shift).
_base_ = ['../_base_/distill/roi_dckd_faster_rcnn.py']
teacher_ckpt = 'checkpoints/coco/faster-rcnn_r50_fpn_1x_coco.pth'
model = dict(
    teacher_ckpt=teacher_ckpt,
    architecture=dict(
        _scope_='mmdet',
        backbone=dict(
            _delete_=True,
            type='mmdet.MobileNetV2',
            out_indices=(1, 2, 4, 6),
            act_cfg=dict(type='ReLU6'),
            frozen_stages=-1,
            norm_eval=True,
            init_cfg=dict(
                type='Pretrained',
                checkpoint='open-mmlab://mmdet/mobilenet_v2')),
        neck=dict(in_channels=[24, 32, 96, 320], num_outs=5)),
    teacher=dict(_scope_='mmdet', backbone=dict(init_cfg=None)))
