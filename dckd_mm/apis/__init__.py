# Copyright (c) dckd_mm contributors. All rights reserved.
"""What the tools do, as functions: the command line (:mod:`.cli`), the
config (:mod:`.config`) and the switches' changes to it
(:mod:`.overrides`), the checks before a run (:mod:`.checks`), resume and
checkpoint fit (:mod:`.resume`), the runs (:mod:`.run`), how a tool
reports an error and exits (:mod:`.report`) and how it stops on SIGTERM
(:mod:`.signals`).
"""
from .checks import check_loss_options, check_teacher, preflight
from .cli import CfgOptionsAction, add_common_args
from .config import load_config
from .overrides import enable_amp, enable_auto_scale_lr
from .report import USER_ERRORS, is_user_error, report_error, tool_exit
from .run import run_test, run_train
from .signals import exit_on_sigterm

__all__ = [
    'load_config', 'preflight', 'check_teacher', 'check_loss_options',
    'enable_auto_scale_lr', 'enable_amp', 'run_train', 'run_test',
    'USER_ERRORS', 'is_user_error', 'CfgOptionsAction', 'add_common_args',
    'report_error', 'tool_exit', 'exit_on_sigterm'
]
