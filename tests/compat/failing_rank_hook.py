# Copyright (c) dckd_mm contributors. All rights reserved.
"""A hook that makes one rank fail, as a full disk would (imported by the
generated config of tests/compat/test_failing_rank.py)."""
import errno

from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class FailOnRank(Hook):
    """Raise ``OSError(ENOSPC)`` on rank ``rank`` after iteration
    ``at_iter``; the other ranks go on into the next collective."""

    def __init__(self, rank: int = 0, at_iter: int = 2) -> None:
        self.rank = rank
        self.at_iter = at_iter

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        if get_rank() == self.rank and runner.iter + 1 == self.at_iter:
            raise OSError(errno.ENOSPC, 'No space left on device',
                          'epoch_1.pth')
