# DCKD (RoI-level, teacher RoI head on student RoIs) + FPN MSE:
# Faster R-CNN R50-FPN -> MobileNetV2-FPN, COCO 2017, 1x, 8 GPUs x 2.
_base_ = ['../_base_/distill/roi_dckd_faster_rcnn.py']
teacher_ckpt = 'checkpoints/coco/faster-rcnn_r50_fpn_1x_coco.pth'
model = dict(
    teacher_ckpt=teacher_ckpt,
    architecture=dict(
        _scope_='mmdet',
        backbone=dict(
            _delete_=True,
            type='mmdet.MobileNetV2',
            out_indices=(2, 4, 6),
            act_cfg=dict(type='ReLU6'),
            init_cfg=None),
        neck=dict(in_channels=[32, 96, 320], num_outs=5)),
    teacher=dict(_scope_='mmdet', backbone=dict(init_cfg=None)))
