# Copyright (c) dckd_mm contributors. All rights reserved.
"""Narrow fixes that make the OpenMMLab stack work on current PyTorch.

Each fix lives in its own module, is applied by :func:`apply` (called when
``dckd_mm`` is imported) and has a test that fails without it:

* :mod:`.mmrazor_quantization`: mmrazor imports on torch >= 2.1 (only its
  quantization backend configs are substituted, and only if they fail).
* :mod:`.safe_loading`: mmengine checkpoints load and resume with
  ``weights_only=True`` kept on; untrusted pickles (zip, legacy or raw) are
  refused, and any unreadable file gives ``CorruptCheckpointError``.
* :mod:`.atomic_checkpoints`: a kill during a checkpoint write never
  leaves a truncated file under a checkpoint's name, rotation never leaves
  zero checkpoints (new file first, old one deleted last, also for
  ``best_*``), and resume finds the newest complete checkpoint that carries
  optimizer state.
* :mod:`.cpu_distributed`: ``--launcher pytorch`` with the gloo backend
  works on machines without a GPU.

The third breakage (mmcv's compiled ops) is fixed at build time by
``.dev_scripts/build_mmcv.sh``.
"""
from . import (atomic_checkpoints, cpu_distributed, mmrazor_quantization,
               safe_loading)
from .safe_loading import (CorruptCheckpointError, UntrustedCheckpointError,
                           safe_load)

__all__ = [
    'apply', 'atomic_checkpoints', 'cpu_distributed', 'mmrazor_quantization',
    'safe_loading', 'safe_load',
    'UntrustedCheckpointError', 'CorruptCheckpointError'
]


def apply() -> None:
    """Apply every compatibility fix (idempotent)."""
    mmrazor_quantization.install()
    safe_loading.install()
    atomic_checkpoints.install()
    cpu_distributed.install()
