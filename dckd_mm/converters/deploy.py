# Copyright (c) dckd_mm contributors. All rights reserved.
"""The mmpretrain config a converted CIFAR model deploys with: the model,
RepDistiller's/SimKD's input normalisation and CIFAR-100's test split."""
import os
import os.path as osp
from copy import deepcopy

from mmengine.config import Config

__all__ = [
    'UPSTREAM_CIFAR100_MEAN', 'UPSTREAM_CIFAR100_STD', 'deploy_config',
    'write_deploy_config'
]

# RepDistiller / SimKD CIFAR-100 input normalisation
# (transforms.Normalize after ToTensor), on the 0-255 scale.
UPSTREAM_CIFAR100_MEAN = [0.5071 * 255, 0.4867 * 255, 0.4408 * 255]
UPSTREAM_CIFAR100_STD = [0.2675 * 255, 0.2565 * 255, 0.2761 * 255]


def deploy_config(model_cfg: dict, num_classes: int = 100) -> Config:
    """A complete mmpretrain config for a converted CIFAR model.

    The model gets RepDistiller's/SimKD's input normalisation (mean/std of
    ``transforms.Normalize`` on the 0-255 scale), so that
    ``mmpretrain.apis.init_model`` / ``ImageClassificationInferencer``
    give the upstream model's predictions on raw ``uint8`` images in
    CIFAR-100's channel order (RGB, ``(32, 32, 3)`` arrays); the test
    pipeline and dataloader read CIFAR-100's test split.

    Args:
        model_cfg (dict): the converted model's config.
        num_classes (int): the classifier's classes.

    Returns:
        Config: with ``custom_imports`` of dckd_mm, ``model`` and the test
        dataloader, evaluator and loop.
    """
    model = deepcopy(model_cfg)
    model['type'] = model['type'].split('.')[-1]
    model['data_preprocessor'] = dict(
        type='ClsDataPreprocessor',
        num_classes=num_classes,
        mean=list(UPSTREAM_CIFAR100_MEAN),
        std=list(UPSTREAM_CIFAR100_STD),
        to_rgb=False)
    test_pipeline = [dict(type='PackInputs')]
    return Config(
        dict(
            default_scope='mmpretrain',
            custom_imports=dict(
                imports=['dckd_mm'], allow_failed_imports=False),
            model=model,
            test_pipeline=test_pipeline,
            test_dataloader=dict(
                batch_size=64,
                num_workers=2,
                dataset=dict(
                    type='SafeCIFAR100',
                    data_root='data/cifar100',
                    split='test',
                    pipeline=test_pipeline),
                sampler=dict(type='DefaultSampler', shuffle=False)),
            test_evaluator=dict(type='Accuracy', topk=(1, 5)),
            test_cfg=dict()))


def write_deploy_config(model_cfg: dict, path: str,
                        num_classes: int = 100) -> None:
    """Write :func:`deploy_config` of ``model_cfg`` to ``path`` (its
    folder is created)."""
    if osp.dirname(path):
        os.makedirs(osp.dirname(path), exist_ok=True)
    deploy_config(model_cfg, num_classes).dump(path)
