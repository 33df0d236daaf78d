# Copyright (c) dckd_mm contributors. All rights reserved.
"""dckd_mm: Decoupled Classifier Knowledge Distillation for mmrazor.

Importing the package installs the host fixes the running host needs
(:mod:`dckd_mm.compat`; ``python -m dckd_mm.compat`` says which and why)
and registers dckd_mm's own modules into the host registries (mmrazor's and
mmpretrain's ``MODELS``, mmpretrain's ``DATASETS``). Classification needs
mmcv without compiled ops (``mmcv-lite`` is enough); detection registers
only where mmdet and mmcv's compiled ops import.
"""
from .version import __version__

try:
    import mmcv  # noqa: F401  (not a pip requirement: see requirements/)
except ImportError as _err:  # pragma: no cover - depends on the install
    from .errors import UnsupportedHostError
    raise UnsupportedHostError(
        'dckd_mm needs mmcv 2.0 or 2.1, which is not installed. For '
        "classification: pip install 'mmcv-lite==2.1.0' (no compiled ops); "
        "for detection too: mim install 'mmcv==2.1.0' (with ops). pip "
        'install of dckd_mm never installs mmcv itself, so that it cannot '
        'replace the one your environment has.') from _err

from .compat import apply as _apply_compat  # noqa: E402

_apply_compat()

from . import datasets, engine, models  # noqa: E402,F401  (registration)

__all__ = ['__version__', 'datasets', 'engine', 'models']
