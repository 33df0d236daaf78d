# Copyright (c) dckd_mm contributors. All rights reserved.
"""A hook for tests/apis/test_worklock.py: a real training that stops after
an epoch (its checkpoint, config dump and logs written) until the test
lets it go, so that a second run can meet it in its work dir."""
import os
import os.path as osp
import time

from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class DCKDTestPauseHook(Hook):
    """After epoch ``epoch`` (and its checkpoint), write ``marker`` and wait
    until the file ``go`` exists (at most ``timeout`` seconds)."""
    priority = 'LOWEST'  # after the CheckpointHook

    def __init__(self, marker: str, go: str, epoch: int = 1,
                 timeout: float = 300.0) -> None:
        self.marker, self.go = marker, go
        self.epoch, self.timeout = epoch, timeout

    def after_train_epoch(self, runner) -> None:
        if runner.epoch + 1 != self.epoch:  # counted from 0 in this hook
            return
        with open(self.marker, 'w') as f:
            f.write(str(os.getpid()))
        deadline = time.monotonic() + self.timeout
        while not osp.exists(self.go) and time.monotonic() < deadline:
            time.sleep(0.05)
