# digits100 (embedded, offline): 100 classes, class 10a + b is digit a
# beside digit b in a 16x16 frame, composed from scikit-learn's digits
# (train composites from the train split only, test from the test split).
# 8,000 train / 3,000 test composites, 3 channels, uint8.
dataset_type = 'Digits100Dataset'
data_preprocessor = dict(
    type='mmpretrain.ClsDataPreprocessor',
    num_classes=100,
    # measured on the 8,000 training composites (0-255 scale)
    mean=[38.95, 38.95, 38.95],
    std=[78.19, 78.19, 78.19],
    to_rgb=False)

train_pipeline = [
    dict(type='RandomCrop', crop_size=16, padding=1),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='PackInputs')]

train_dataloader = dict(
    batch_size=64,
    num_workers=0,
    dataset=dict(type=dataset_type, split='train', pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
)
val_dataloader = dict(
    batch_size=500,
    num_workers=0,
    dataset=dict(type=dataset_type, split='test', pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
