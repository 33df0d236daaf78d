# Copyright (c) dckd_mm contributors. All rights reserved.
"""Checkpoints in and out of dckd_mm's model formats, exactly or refused.

* :mod:`.keymaps` — upstream ``state_dict -> state_dict`` renames;
* :mod:`.loading` — reading upstream files safely, finding their state
  dict;
* :mod:`.upstream` — RepDistiller's and SimKD's forward passes rebuilt
  from the source tensors (the reference of the self-check);
* :mod:`.verify` — exact keys and shapes, SimKD projectors, the logit
  self-check;
* :mod:`.repdistiller`, :mod:`.torchvision_resnet` — file-level
  conversions, each returning a :class:`ConversionResult`;
* :mod:`.deploy` — the mmpretrain config a converted CIFAR model deploys
  with, written with its checkpoint all or nothing;
* :mod:`.outputs` — output names checked before anything is converted or
  written, a config's text by its extension;
* :mod:`.export` — a distillation checkpoint's student as a standalone
  model.

Every refusal is a :class:`~dckd_mm.errors.ConversionError` (a
``ValueError``), or a :class:`~dckd_mm.errors.CheckpointError` /
:class:`~dckd_mm.errors.ConfigError` for an export; the tools in
``tools/model_converters/`` print them as ``error: ...`` with exit status
2. This package imports :mod:`dckd_mm.models` (the zoo and its builder);
nothing in :mod:`dckd_mm.models` or :mod:`dckd_mm.utils` imports it.
"""
from ..errors import ConversionError
from .deploy import (UPSTREAM_CIFAR100_MEAN, UPSTREAM_CIFAR100_STD,
                     deploy_config, save_deployable, write_deploy_config)
from .export import (export_student, student_config, student_state_dict,
                     verify_export)
from .keymaps import (convert_repdistiller, convert_torchvision_resnet,
                      strip_prefixes)
from .loading import load_foreign_checkpoint, source_state_dict
from .outputs import CONFIG_FORMATS, check_outputs, config_text
from .repdistiller import convert_file
from .result import ConversionResult
from .torchvision_resnet import (convert_torchvision_file,
                                 torchvision_resnet_cfg)
from .upstream import upstream_forward, upstream_simkd_logits
from .verify import check_exact, check_num_classes, check_projector, self_check

__all__ = [
    'ConversionError', 'ConversionResult', 'load_foreign_checkpoint',
    'source_state_dict', 'strip_prefixes', 'convert_repdistiller',
    'convert_torchvision_resnet', 'check_exact', 'check_projector',
    'self_check', 'upstream_forward', 'upstream_simkd_logits',
    'convert_file', 'convert_torchvision_file', 'torchvision_resnet_cfg',
    'deploy_config', 'write_deploy_config', 'UPSTREAM_CIFAR100_MEAN',
    'UPSTREAM_CIFAR100_STD', 'export_student', 'student_config',
    'student_state_dict', 'verify_export', 'save_deployable',
    'check_outputs', 'config_text', 'CONFIG_FORMATS', 'check_num_classes'
]
