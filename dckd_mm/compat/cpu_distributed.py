# Copyright (c) dckd_mm contributors. All rights reserved.
"""Distributed training on CPU (gloo) with mmengine 0.10.7.

mmengine's ``_init_dist_pytorch`` calls ``torch.cuda.set_device`` before
``init_process_group`` whatever the backend, which raises "Found no NVIDIA
driver" on a machine without a GPU; and ``Runner.wrap_model`` builds
``MMDistributedDataParallel(device_ids=[LOCAL_RANK])``, which PyTorch refuses
for a module on the CPU. Both fixes apply only in that situation: with a GPU
mmengine's code runs unchanged.
"""
from typing import Any

import torch

__all__ = ['install', 'uninstall']

_ORIGINAL: dict = {}


def _init_dist_pytorch(backend: str, init_backend: str = 'torch',
                       **kwargs: Any) -> None:
    if torch.cuda.is_available() or init_backend != 'torch':
        return _ORIGINAL['init'](backend, init_backend=init_backend,
                                 **kwargs)
    torch.distributed.init_process_group(backend=backend, **kwargs)


def _ddp_init(self: Any, module: torch.nn.Module, detect_anomalous_params:
              bool = False, **kwargs: Any) -> None:
    params = list(module.parameters())
    if params and params[0].device.type == 'cpu':
        kwargs.pop('device_ids', None)
        kwargs.pop('output_device', None)
    _ORIGINAL['ddp'](self, module=module,
                     detect_anomalous_params=detect_anomalous_params,
                     **kwargs)


def install() -> None:
    import mmengine.dist.utils as dist_utils
    from mmengine.model import MMDistributedDataParallel
    if 'init' not in _ORIGINAL:
        _ORIGINAL['init'] = dist_utils._init_dist_pytorch
        _ORIGINAL['ddp'] = MMDistributedDataParallel.__init__
    dist_utils._init_dist_pytorch = _init_dist_pytorch
    MMDistributedDataParallel.__init__ = _ddp_init


def uninstall() -> None:
    import mmengine.dist.utils as dist_utils
    from mmengine.model import MMDistributedDataParallel
    if _ORIGINAL:
        dist_utils._init_dist_pytorch = _ORIGINAL['init']
        MMDistributedDataParallel.__init__ = _ORIGINAL['ddp']
