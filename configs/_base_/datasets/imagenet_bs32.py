# ImageNet-1k in mmpretrain's layout (never downloaded by dckd_mm):
#   data/imagenet/train/<class>/*.JPEG (or train/*.JPEG + meta/train.txt)
#   data/imagenet/val/<class>/*.JPEG   (or val/*.JPEG + meta/val.txt)
# 32 images per GPU; the configs assume 8 GPUs (total batch 256).
# mmpretrain's own file: its normalization, pipelines (random resized crop
# 224 + flip; resize 256, center crop 224), loaders and top-1/5 accuracy.
_base_ = 'mmpretrain::_base_/datasets/imagenet_bs32.py'

# The one difference: the preprocessor names its type. mmrazor's distillers
# hand it to mmengine's BaseModel, which needs one (only mmpretrain's
# ImageClassifier fills in ClsDataPreprocessor), and build it in mmrazor's
# scope, hence the 'mmpretrain.' prefix. A plain classifier builds the same
# class either way.
data_preprocessor = dict(type='mmpretrain.ClsDataPreprocessor')
