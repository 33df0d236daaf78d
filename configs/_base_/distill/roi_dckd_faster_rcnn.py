# Shared by the detection DCKD configs: COCO 2017, mmdet's Faster R-CNN
# FPN 1x recipe (data, schedule, runtime, CocoMetric), a student and a
# teacher derived from mmdet's model dict, RoI-level DCKD and a SimKD-style
# MSE on the 5 FPN levels (256 channels on both sides; add mmrazor
# connectors to the distiller for a neck of other widths).
_base_ = ['mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py']
custom_imports = dict(imports=['dckd_mm'], allow_failed_imports=False)

# Teacher checkpoint (an mmdet Faster R-CNN checkpoint of the teacher's
# architecture, trained on COCO): set it here or with
#   --cfg-options model.teacher_ckpt=PATH
teacher_ckpt = 'checkpoints/coco/faster-rcnn_teacher.pth'

_detector_ = {{_base_.model}}

_fpn_losses_ = {
    f'loss_fpn{i}': dict(type='SimKDFeatureLoss', loss_weight=1.0)
    for i in range(5)
}
_fpn_mappings_ = {
    f'loss_fpn{i}': dict(
        s_feature=dict(from_student=True, recorder='fpn', data_idx=i),
        t_feature=dict(from_student=False, recorder='fpn', data_idx=i))
    for i in range(5)
}
model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='RoIDCKDDistill',
    architecture=_detector_,
    teacher=_detector_,
    teacher_ckpt=teacher_ckpt,
    roi_loss=dict(type='DCKDLoss', tau=4.0, alpha=1.0, beta=0.5),
    # No download at run time: mmdet's torchvision:// initialisation is off;
    # set init_cfg=dict(type='Pretrained', checkpoint=LOCAL_PATH) to use one.
    distiller=dict(
        type='ConfigurableDistiller',
        student_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        teacher_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        distill_losses=_fpn_losses_,
        loss_forward_mappings=_fpn_mappings_))
