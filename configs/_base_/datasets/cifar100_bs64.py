# CIFAR-100 in mmpretrain's layout: data/cifar100/cifar-100-python/.
# mmpretrain's own file: its normalization (CIFAR-100 mean / std, RGB,
# 0-255) and pipelines (random crop 32 with padding 4 + flip; none at test).
_base_ = 'mmpretrain::_base_/datasets/cifar100_bs16.py'

# Read by dckd_mm's SafeCIFAR100 (no download, restricted unpickling), not
# mmpretrain's CIFAR100, which downloads missing files by default and
# unpickles them with pickle.loads (code from a hostile file runs).
dataset_type = 'SafeCIFAR100'
# One spelling for both splits (mmpretrain's test split has a trailing
# slash), as error messages and --data-root print it.
data_root = 'data/cifar100'
# The preprocessor names its type: mmrazor's distillers hand it to
# mmengine's BaseModel, which needs one, and build it in mmrazor's scope.
data_preprocessor = dict(type='mmpretrain.ClsDataPreprocessor')

# The recipe of DCKD / RepDistiller: batch 64 on 1 GPU (mmpretrain: 16);
# 4 workers, kept alive from one of the 240 short epochs to the next.
train_dataloader = dict(
    batch_size=64,
    num_workers=4,
    dataset=dict(type=dataset_type, data_root=data_root),
    persistent_workers=True,
)
val_dataloader = dict(
    batch_size=64,
    num_workers=4,
    dataset=dict(type=dataset_type, data_root=data_root),
    persistent_workers=True,
)
# Top-1 and top-5, as RepDistiller's and SimKD's code log them (mmpretrain:
# top-1 only).
val_evaluator = dict(topk=(1, 5))
# mmpretrain's test split and metric were copied from its val ones when its
# file was read: copy the changed ones again.
test_dataloader = val_dataloader
test_evaluator = val_evaluator
