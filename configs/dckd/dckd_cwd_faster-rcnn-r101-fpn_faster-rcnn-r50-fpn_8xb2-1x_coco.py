# Mixing: DCKD on the RoI classifier + mmrazor's channel-wise distillation
# (CWD, Shu et al. 2021) on the FPN levels, in one RoIDCKDDistill: Faster
# R-CNN R101-FPN -> R50-FPN, COCO 2017, 1x, 8 GPUs x 2. Logged as
# distill.loss_roi_dckd and distill.loss_cwd_fpn{0..4}.
#
# The FPN part is mmrazor's cwd_fpn_frcnn_r101_frcnn_r50_1x_coco.py as it
# is: the recorders on both necks, and ChannelWiseDivergence(tau=1,
# loss_weight=10) on each of the five levels P2-P6. The RoI part is the
# plain R50 config's (DCKDLoss tau=1, alpha=1, beta=0.25, weight 1), and so
# are the schedule and data (mmdet's Faster R-CNN R50 1x recipe, the recipe
# mmrazor's CWD config also trains with).
#
# Weights: each loss keeps the weight its own source set against the same
# student losses (that recipe's loss_cls, loss_bbox and RPN losses, lr 0.02
# at batch 16); neither is rescaled, and nothing was tuned here. Both are
# means: CWD's a mean over images and channels of the KL divergence between
# spatial softmaxes, DCKD's a mean over the sampled RoIs (batchmean). So
# neither grows with the batch, the image size or the number of RoIs, and
# their sum keeps each at the scale it was set for. They distil different
# tensors: CWD the neck outputs, DCKD the RoI logits, whose gradient
# reaches the neck only through RoIAlign on the sampled boxes. mmrazor's
# CWD config uses the R101 teacher trained 2x; any mmdet Faster R-CNN
# R101-FPN checkpoint fits --teacher-ckpt.
_base_ = ['./dckd_faster-rcnn-r101-fpn_faster-rcnn-r50-fpn_8xb2-1x_coco.py']

model = dict(
    distiller=dict(
        student_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        teacher_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        distill_losses=dict(
            loss_cwd_fpn0=dict(
                type='ChannelWiseDivergence', tau=1, loss_weight=10),
            loss_cwd_fpn1=dict(
                type='ChannelWiseDivergence', tau=1, loss_weight=10),
            loss_cwd_fpn2=dict(
                type='ChannelWiseDivergence', tau=1, loss_weight=10),
            loss_cwd_fpn3=dict(
                type='ChannelWiseDivergence', tau=1, loss_weight=10),
            loss_cwd_fpn4=dict(
                type='ChannelWiseDivergence', tau=1, loss_weight=10)),
        loss_forward_mappings=dict(
            loss_cwd_fpn0=dict(
                preds_S=dict(from_student=True, recorder='fpn', data_idx=0),
                preds_T=dict(from_student=False, recorder='fpn', data_idx=0)),
            loss_cwd_fpn1=dict(
                preds_S=dict(from_student=True, recorder='fpn', data_idx=1),
                preds_T=dict(from_student=False, recorder='fpn', data_idx=1)),
            loss_cwd_fpn2=dict(
                preds_S=dict(from_student=True, recorder='fpn', data_idx=2),
                preds_T=dict(from_student=False, recorder='fpn', data_idx=2)),
            loss_cwd_fpn3=dict(
                preds_S=dict(from_student=True, recorder='fpn', data_idx=3),
                preds_T=dict(from_student=False, recorder='fpn', data_idx=3)),
            loss_cwd_fpn4=dict(
                preds_S=dict(from_student=True, recorder='fpn', data_idx=4),
                preds_T=dict(from_student=False, recorder='fpn',
                             data_idx=4)))))
