# Copyright (c) dckd_mm contributors. All rights reserved.
"""Narrow fixes for the OpenMMLab stack, installed only where the host
needs them.

Each fix is a :class:`~.registry.Fix` with a feature test that probes the
running host; :func:`apply` (called when ``dckd_mm`` is imported) installs
exactly the fixes whose test says the host fails without them, and records
why. ``python -m dckd_mm.compat`` prints that record. The fixes:

* :mod:`.mmrazor_quantization`: mmrazor imports where torch lacks what its
  quantization backend configs use (only that subpackage is substituted,
  and only if it fails).
* :mod:`.safe_loading`: mmengine's checkpoints load and resume with an
  allow-list; untrusted pickles (zip, legacy or raw) are refused, and any
  unreadable file gives ``CorruptCheckpointError``. Needed where torch
  refuses mmengine's types by default (torch >= 2.6) and where it loads
  any pickle by default (older torch).
* :mod:`.atomic_checkpoints`: a kill during a checkpoint write never
  leaves a truncated file under a checkpoint's name, rotation never leaves
  zero checkpoints, and resume finds the newest complete checkpoint.
* :mod:`.cpu_distributed`: ``--launcher pytorch`` with the gloo backend
  works on machines without a GPU.

mmcv's compiled ops (needed by detection only) are built by
``.dev_scripts/build_mmcv.sh``, not patched.
"""
from typing import List

from . import (atomic_checkpoints, cpu_distributed, mmrazor_quantization,
               safe_loading)
from .registry import Fix, FixStatus, format_status, status
from .safe_loading import (CorruptCheckpointError, UntrustedCheckpointError,
                           safe_load)

__all__ = [
    'apply', 'uninstall', 'status', 'format_status', 'FIXES', 'Fix',
    'FixStatus', 'atomic_checkpoints', 'cpu_distributed',
    'mmrazor_quantization', 'safe_loading', 'safe_load',
    'UntrustedCheckpointError', 'CorruptCheckpointError'
]

# In the order they are applied: mmrazor must import before anything else.
FIXES = (mmrazor_quantization.FIX, safe_loading.FIX,
         atomic_checkpoints.FIX, cpu_distributed.FIX)


def apply() -> List[FixStatus]:
    """Install every fix the running host needs (idempotent)."""
    from . import registry
    return registry.apply(FIXES)


def uninstall() -> None:
    """Undo every installed fix (for tests)."""
    from . import registry
    registry.uninstall(FIXES)
