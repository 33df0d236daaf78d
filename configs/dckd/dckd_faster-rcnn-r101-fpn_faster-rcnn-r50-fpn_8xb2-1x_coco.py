# DCKD on the RoI classifier: Faster R-CNN R101-FPN -> R50-FPN, COCO 2017,
# 1x, 8 GPUs x 2 (mdistiller's DKD-R50-R101 pair). The student keeps
# mmdet's torchvision://resnet50 initialisation.
_base_ = ['../_base_/distill/roi_dckd_faster_rcnn.py']
teacher_ckpt = 'checkpoints/coco/faster-rcnn_r101_fpn_1x_coco.pth'
model = dict(
    teacher_ckpt=teacher_ckpt,
    architecture=dict(_scope_='mmdet'),
    teacher=dict(_scope_='mmdet', backbone=dict(depth=101, init_cfg=None)))
