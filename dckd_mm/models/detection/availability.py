# Copyright (c) dckd_mm contributors. All rights reserved.
"""Whether this host can run detection: mmdet and mmcv's compiled ops.

Classification needs neither, so ``import dckd_mm`` must work without them
(the detection algorithm is then simply not registered); a detection
config then fails with :func:`detection_unavailable`'s sentence instead of
an import error from deep inside mmdet.
"""
import importlib
from typing import Optional

__all__ = ['detection_unavailable']

_MMDET = 'mmdet 3.3.0 (`pip install mmdet==3.3.0`)'
_MMCV_OPS = ('mmcv 2.1.0 built with its compiled ops, not mmcv-lite '
             "(`mim install 'mmcv==2.1.0'`; in dckd_mm's repository `make "
             'test` builds them, see docs/platform.md)')


def _import_error(name: str) -> Optional[BaseException]:
    """The error importing ``name`` raises, ``None`` when it imports."""
    try:
        importlib.import_module(name)
    except (ImportError, OSError) as err:  # OSError: a broken _ext .so
        return err
    return None


def detection_unavailable() -> Optional[str]:
    """``None`` when detection can run here, else a sentence that names
    what is missing and what to install or build.

    Detection needs ``mmdet.models`` and ``mmcv.ops`` (mmcv's compiled
    extension); both are imported to find out. Only ``ImportError`` and
    ``OSError`` count as "unavailable": any other error is a bug and
    propagates.

    Returns:
        str, optional: e.g. ``"mmdet is not importable (No module named
        'mmdet'): detection needs mmdet 3.3.0 (`pip install
        mmdet==3.3.0`)."``
    """
    err = _import_error('mmdet')
    if err is not None:
        return f'mmdet is not importable ({err}): detection needs {_MMDET}.'
    err = _import_error('mmcv.ops')
    if err is not None:
        return (f"mmcv's compiled ops are not importable ({err}): "
                f'detection needs {_MMCV_OPS}.')
    err = _import_error('mmdet.models')
    if err is not None:
        return (f'mmdet.models is not importable ({err}): detection needs '
                f'{_MMDET} on {_MMCV_OPS}.')
    return None
