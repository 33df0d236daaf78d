# DCKD (RoI-level, teacher RoI head on student RoIs) + FPN MSE:
# Faster R-CNN R101-FPN -> R50-FPN, COCO 2017, 1x, 8 GPUs x 2.
_base_ = ['../_base_/distill/roi_dckd_faster_rcnn.py']
teacher_ckpt = 'checkpoints/coco/faster-rcnn_r101_fpn_1x_coco.pth'
model = dict(
    teacher_ckpt=teacher_ckpt,
    architecture=dict(_scope_='mmdet', backbone=dict(init_cfg=None)),
    teacher=dict(_scope_='mmdet', backbone=dict(depth=101, init_cfg=None)))
