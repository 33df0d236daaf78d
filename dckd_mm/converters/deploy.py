# Copyright (c) dckd_mm contributors. All rights reserved.
"""The mmpretrain config a converted CIFAR model deploys with: the model,
RepDistiller's/SimKD's input normalisation and CIFAR-100's test split."""
from copy import deepcopy
from typing import Optional

import torch
from mmengine.config import Config

from ..utils.atomic import atomic_write, atomic_write_files, check_output
from .outputs import check_outputs, config_text
from .result import ConversionResult

__all__ = [
    'UPSTREAM_CIFAR100_MEAN', 'UPSTREAM_CIFAR100_STD', 'deploy_config',
    'write_deploy_config', 'save_deployable'
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
    """Write :func:`deploy_config` of ``model_cfg`` to ``path`` atomically
    (its folder is created).

    Raises:
        ConfigError: not a ``.py``/``.json``/``.yaml`` name.
        OutputPathError: ``path`` is a folder or cannot be written.
        OutOfSpaceError: the disk is full; nothing was changed.
    """
    text = config_text(deploy_config(model_cfg, num_classes), path)
    check_output(path, 'config')
    atomic_write(path, lambda f: f.write(text.encode('utf-8')))


def save_deployable(result: ConversionResult, path: str,
                    config_out: Optional[str] = None,
                    num_classes: int = 100) -> None:
    """Write a conversion's checkpoint and, with ``config_out``, its
    :func:`deploy_config`, all or nothing: both files land, or both stay
    as they were.

    Args:
        result (ConversionResult): a verified conversion.
        path (str): the checkpoint to write.
        config_out (str, optional): the config to write beside it.
        num_classes (int): the classifier's classes.

    Raises:
        OutputPathError, ConfigError: as :func:`.outputs.check_outputs`;
            nothing was written.
        OutOfSpaceError: the disk is full; nothing was changed.
    """
    check_outputs(path, config_out)
    saved = {'state_dict': result.state_dict, 'meta': result.meta}
    files = [(path, lambda f: torch.save(saved, f))]
    if config_out is not None:
        text = config_text(deploy_config(result.model_cfg, num_classes),
                           config_out).encode('utf-8')
        files.append((config_out, lambda f: f.write(text)))
    atomic_write_files(files)
