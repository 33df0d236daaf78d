# Copyright (c) dckd_mm contributors. All rights reserved.
"""Distributed training on CPU (gloo) with mmengine 0.10.7.

mmengine's ``_init_dist_pytorch`` calls ``torch.cuda.set_device`` before
``init_process_group`` whatever the backend, which raises "Found no NVIDIA
driver" on a machine without a GPU; and ``Runner.wrap_model`` builds
``MMDistributedDataParallel(device_ids=[LOCAL_RANK])``, which PyTorch refuses
for a module on the CPU. Both fixes apply only in that situation: with a GPU
mmengine's code runs unchanged.
"""
import inspect
from typing import Any, Optional

import torch

from .registry import Fix, Patches

__all__ = ['install', 'uninstall', 'needed', 'FIX']

_PATCHES = Patches()


def _init_dist_pytorch(backend: str, init_backend: str = 'torch',
                       **kwargs: Any) -> None:
    if torch.cuda.is_available() or init_backend != 'torch':
        import mmengine.dist.utils as dist_utils
        original = _PATCHES.original(dist_utils, '_init_dist_pytorch')
        return original(backend, init_backend=init_backend, **kwargs)
    torch.distributed.init_process_group(backend=backend, **kwargs)


def _ddp_init(self: Any, module: torch.nn.Module, detect_anomalous_params:
              bool = False, **kwargs: Any) -> None:
    from mmengine.model import MMDistributedDataParallel
    params = list(module.parameters())
    if params and params[0].device.type == 'cpu':
        kwargs.pop('device_ids', None)
        kwargs.pop('output_device', None)
    original = _PATCHES.original(MMDistributedDataParallel, '__init__')
    original(self, module=module,
             detect_anomalous_params=detect_anomalous_params, **kwargs)


def needed() -> Optional[str]:
    """Feature test: no GPU here, and mmengine's ``_init_dist_pytorch``
    calls ``torch.cuda.set_device`` (which fails without one)."""
    if torch.cuda.is_available():
        return None
    import mmengine.dist.utils as dist_utils
    original = _PATCHES.original(dist_utils, '_init_dist_pytorch')
    try:
        source = inspect.getsource(original)
    except (OSError, TypeError):  # pragma: no cover - no source shipped
        source = 'set_device'
    if 'set_device' not in source:
        return None
    return ('no GPU is visible and mmengine\'s _init_dist_pytorch calls '
            'torch.cuda.set_device: `--launcher pytorch` would fail with '
            '"Found no NVIDIA driver"')


def install() -> None:
    """Patch mmengine's process-group start and DDP wrapper."""
    import mmengine.dist.utils as dist_utils
    from mmengine.model import MMDistributedDataParallel
    _PATCHES.set(dist_utils, '_init_dist_pytorch', _init_dist_pytorch)
    _PATCHES.set(MMDistributedDataParallel, '__init__', _ddp_init)


def uninstall() -> None:
    """Restore mmengine's originals."""
    _PATCHES.restore()


FIX = Fix(
    name='cpu_distributed',
    summary='`--launcher pytorch` with gloo works on machines without a '
    'GPU',
    needed=needed,
    install=install,
    uninstall=uninstall)
