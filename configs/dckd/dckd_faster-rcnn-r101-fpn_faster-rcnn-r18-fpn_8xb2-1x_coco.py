# DCKD on the RoI classifier: Faster R-CNN R101-FPN -> R18-FPN, COCO 2017,
# 1x, 8 GPUs x 2 (mdistiller's DKD-R18-R101 pair).
_base_ = ['../_base_/distill/roi_dckd_faster_rcnn.py']
teacher_ckpt = 'checkpoints/coco/faster-rcnn_r101_fpn_1x_coco.pth'
model = dict(
    teacher_ckpt=teacher_ckpt,
    architecture=dict(
        _scope_='mmdet',
        backbone=dict(
            depth=18,
            init_cfg=dict(
                type='Pretrained', checkpoint='torchvision://resnet18')),
        neck=dict(in_channels=[64, 128, 256, 512])),
    teacher=dict(_scope_='mmdet', backbone=dict(depth=101, init_cfg=None)))
