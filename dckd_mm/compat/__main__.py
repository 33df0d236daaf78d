# Copyright (c) dckd_mm contributors. All rights reserved.
"""``python -m dckd_mm.compat``: which host fixes are active here, and why."""
import platform

import torch

import dckd_mm
from dckd_mm.compat import format_status, status


def main() -> None:
    """Print the host's versions and the decision for each fix."""
    import mmcv
    import mmengine
    try:
        import mmcv._ext  # noqa: F401
        ops = 'with compiled ops'
    except ImportError:
        ops = 'without compiled ops (detection unavailable)'
    print(f'dckd_mm {dckd_mm.__version__} on Python '
          f'{platform.python_version()}, torch {torch.__version__}, '
          f'mmengine {mmengine.__version__}, mmcv {mmcv.__version__} {ops}')
    print(format_status(status()))


if __name__ == '__main__':
    main()
