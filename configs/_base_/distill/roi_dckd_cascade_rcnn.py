# Shared by the Cascade R-CNN DCKD configs: as roi_dckd_faster_rcnn.py on
# mmdet's Cascade R-CNN FPN 1x recipe. Every stage's logits are distilled
# on that stage's student RoIs with the teacher's head of the same stage,
# weighted like the stage's cross-entropy (1, 0.5, 0.25);
# cascade_stages='last' keeps only the last stage.
_base_ = ['mmdet::cascade_rcnn/cascade-rcnn_r50_fpn_1x_coco.py']
custom_imports = dict(imports=['dckd_mm'], allow_failed_imports=False)

teacher_ckpt = 'checkpoints/coco/cascade-rcnn_teacher.pth'

_detector_ = {{_base_.model}}

model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='RoIDCKDDistill',
    architecture=_detector_,
    teacher=_detector_,
    teacher_ckpt=teacher_ckpt,
    roi_loss=dict(type='DCKDLoss', tau=1.0, alpha=1.0, beta=0.25),
    cascade_stages='all',
    distiller=dict(type='ConfigurableDistiller'))
