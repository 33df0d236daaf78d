# Shared by the Faster R-CNN DCKD configs: COCO 2017 and mmdet's Faster
# R-CNN FPN 1x recipe (data, schedule, runtime, CocoMetric); student and
# teacher are derived from mmdet's model dict. RoI-level DCKD with
# mdistiller's detection values (tau=1, alpha=1, beta=0.25) and, as in
# mdistiller's plain DKD, no feature loss; docs/detection.md says why and
# shows how to add one.
_base_ = ['mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py']
custom_imports = dict(imports=['dckd_mm'], allow_failed_imports=False)

# Teacher checkpoint (an mmdet checkpoint of the teacher's architecture,
# trained on COCO): set it here or with --teacher-ckpt PATH.
teacher_ckpt = 'checkpoints/coco/faster-rcnn_teacher.pth'

_detector_ = {{_base_.model}}

model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='RoIDCKDDistill',
    # the student backbone keeps mmdet's init (torchvision://resnet50): the
    # file must be on this machine (docs/detection.md), nothing downloads
    architecture=_detector_,
    teacher=_detector_,
    teacher_ckpt=teacher_ckpt,
    roi_loss=dict(type='DCKDLoss', tau=1.0, alpha=1.0, beta=0.25),
    distiller=dict(type='ConfigurableDistiller'))
