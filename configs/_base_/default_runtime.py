# Runtime shared by every dckd_mm classification config: mmpretrain's own
# (default scope, hooks, environment, visualizer, log level, randomness)
# with the differences below.
_base_ = 'mmpretrain::_base_/default_runtime.py'

# dckd_mm's modules (DCKDLoss, SimKD, the CIFAR zoo, datasets) registered
# before anything is built.
custom_imports = dict(imports=['dckd_mm'], allow_failed_imports=False)

# Validation and test loops (mmpretrain's schedules set these; a
# distillation skeleton under distill/ swaps in mmrazor's loop that also
# reports the teacher).
val_cfg = dict()
test_cfg = dict()

default_hooks = dict(
    # CIFAR-100 at batch 64 is 782 iterations an epoch: a line every 50
    # (mmpretrain: 100).
    logger=dict(interval=50),
    # Runs are 120-240 epochs: a checkpoint every 10 (mmpretrain: every
    # epoch, all kept), the last 3 kept, plus the one of best validation
    # accuracy, the number RepDistiller's and SimKD's code report.
    checkpoint=dict(interval=10, max_keep_ckpts=3, save_best='auto'),
)
