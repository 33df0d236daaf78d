# Copyright (c) dckd_mm contributors. All rights reserved.
from .launch import USER_ERRORS, load_config, run_test, run_train

__all__ = ['load_config', 'run_train', 'run_test', 'USER_ERRORS']
