# Copyright (c) dckd_mm contributors. All rights reserved.
"""The launcher's former single module, kept so that old imports work.

Its parts now live in :mod:`.cli`, :mod:`.config`, :mod:`.checks`,
:mod:`.resume`, :mod:`.run` and :mod:`.report`; import from
``dckd_mm.apis`` (or those modules) instead. ``_check_fits`` is
:func:`.resume.check_fits`.
"""
from ..datasets.coco import check_coco
from ..datasets.imagenet import check_imagenet
from .checks import (check_loss_options, check_mmcv_cuda, check_teacher,
                     preflight)
from .cli import CfgOptionsAction, add_common_args
from .config import enable_amp, enable_auto_scale_lr, load_config
from .report import USER_ERRORS, is_user_error, report_error, tool_exit
from .resume import check_fits as _check_fits  # noqa: F401
from .run import run_test, run_train

__all__ = [
    'load_config', 'preflight', 'check_teacher', 'check_loss_options',
    'enable_auto_scale_lr', 'enable_amp', 'run_train', 'run_test',
    'USER_ERRORS', 'is_user_error', 'CfgOptionsAction', 'add_common_args',
    'report_error', 'tool_exit', 'check_mmcv_cuda', 'check_coco',
    'check_imagenet'
]
