# Copyright (c) dckd_mm contributors. All rights reserved.
from .launch import (USER_ERRORS, add_common_args, check_teacher,
                     enable_auto_scale_lr, is_user_error, load_config,
                     report_error, run_test, run_train, tool_exit)

__all__ = [
    'load_config', 'run_train', 'run_test', 'USER_ERRORS', 'is_user_error',
    'check_teacher', 'add_common_args', 'report_error', 'tool_exit',
    'enable_auto_scale_lr'
]
