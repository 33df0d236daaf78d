# Copyright (c) dckd_mm contributors. All rights reserved.
"""bf16 autocast on CPU: mmengine's AmpOptimWrapper requires a GPU."""
from contextlib import contextmanager
from typing import Iterator

import torch
from mmengine.optim import OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS
from torch import nn

__all__ = ['CPUBF16OptimWrapper']


@OPTIM_WRAPPERS.register_module()
class CPUBF16OptimWrapper(OptimWrapper):
    """``OptimWrapper`` whose forward runs under
    ``torch.autocast('cpu', dtype=torch.bfloat16)``.

    bf16 has float32's exponent range, so no loss scaling is needed. Used
    by ``tools/train.py --amp`` when no GPU is present.
    """

    @contextmanager
    def optim_context(self, model: nn.Module) -> Iterator[None]:
        with super().optim_context(model):
            with torch.autocast(device_type='cpu', dtype=torch.bfloat16):
                yield
