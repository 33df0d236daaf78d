# Mixing: DCKD on the RoI classifier + mmrazor's PKD (Pearson correlation
# of FPN features, Cao et al. 2022) on the FPN levels, in one
# RoIDCKDDistill: Faster R-CNN R101-FPN -> R50-FPN, COCO 2017, 1x, 8 GPUs
# x 2. Logged as distill.loss_roi_dckd and distill.loss_pkd_fpn{0..3}.
#
# The FPN part is mmrazor's pkd_fpn_faster-rcnn_r101_faster-rcnn_r50_2x_coco
# .py as it is: the recorders on both necks, and PKDLoss(loss_weight=6) on
# P2-P5 (P6, a max-pool of P5, is left out, as there). The RoI part is the
# plain R50 config's (DCKDLoss tau=1, alpha=1, beta=0.25, weight 1), and so
# are the data and the schedule: mmdet's Faster R-CNN R50 1x recipe, where
# mmrazor's PKD config trains 2x (24 epochs).
#
# Weights: each loss keeps the weight its own source set against the same
# student losses (mmdet's Faster R-CNN R50 loss_cls, loss_bbox and RPN
# losses, lr 0.02 at batch 16); neither is rescaled, and nothing was tuned
# here. PKD standardises every channel of both features over (N, H, W)
# before a mean squared error (halved), so it is a mean, free of the two
# backbones' feature scales, and DCKD is a mean over the sampled RoIs
# (batchmean): neither grows with the batch, the image size or the number
# of RoIs, and their sum keeps each at the scale it was set for. They
# distil different tensors: PKD the neck outputs, DCKD the RoI logits,
# whose gradient reaches the neck only through RoIAlign on the sampled
# boxes. mmrazor's PKD config uses the R101 teacher trained 2x; any mmdet
# Faster R-CNN R101-FPN checkpoint fits --teacher-ckpt.
_base_ = ['./dckd_faster-rcnn-r101-fpn_faster-rcnn-r50-fpn_8xb2-1x_coco.py']

model = dict(
    distiller=dict(
        student_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        teacher_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        distill_losses=dict(
            loss_pkd_fpn0=dict(type='PKDLoss', loss_weight=6),
            loss_pkd_fpn1=dict(type='PKDLoss', loss_weight=6),
            loss_pkd_fpn2=dict(type='PKDLoss', loss_weight=6),
            loss_pkd_fpn3=dict(type='PKDLoss', loss_weight=6)),
        loss_forward_mappings=dict(
            loss_pkd_fpn0=dict(
                preds_S=dict(from_student=True, recorder='fpn', data_idx=0),
                preds_T=dict(from_student=False, recorder='fpn', data_idx=0)),
            loss_pkd_fpn1=dict(
                preds_S=dict(from_student=True, recorder='fpn', data_idx=1),
                preds_T=dict(from_student=False, recorder='fpn', data_idx=1)),
            loss_pkd_fpn2=dict(
                preds_S=dict(from_student=True, recorder='fpn', data_idx=2),
                preds_T=dict(from_student=False, recorder='fpn', data_idx=2)),
            loss_pkd_fpn3=dict(
                preds_S=dict(from_student=True, recorder='fpn', data_idx=3),
                preds_T=dict(from_student=False, recorder='fpn',
                             data_idx=3)))))
