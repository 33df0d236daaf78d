# Copyright (c) dckd_mm contributors. All rights reserved.
"""How a tool ends: a user error as one line, a bug with its traceback.

A user error is a :class:`dckd_mm.errors.DCKDError` (bad input or setup):
the tools print it as ``error: ...`` and exit with status 2. Anything else
is a bug, wherever it was raised, and keeps its traceback (status 1).
"""
import os
import sys
import traceback
from typing import Optional

from ..errors import DCKDError

__all__ = ['USER_ERRORS', 'is_user_error', 'user_error', 'report_error',
           'tool_exit']

# What the tools (and ``except USER_ERRORS`` in the analysis tools) treat
# as the user's mistake.
USER_ERRORS = (DCKDError, )


def user_error(err: BaseException) -> Optional[DCKDError]:
    """The :class:`DCKDError` that ``err`` reports, or None for a bug.

    ``err`` itself, or an error in its ``__cause__``/``__context__`` chain
    that a host library re-raised as another type (mmengine's registry
    wraps errors of a constructor in ``type(e)(f'class ...: {e}')``).
    A chained error counts only when ``err``'s message carries its
    message: a bug raised *while handling* a user error is still a bug.

    Args:
        err (BaseException): the error a tool caught.

    Returns:
        DCKDError, optional: the user error found, None if there is none.
    """
    if isinstance(err, DCKDError):
        return err
    text = str(err)
    seen = {id(err)}
    inner = err.__cause__ or err.__context__
    while inner is not None and id(inner) not in seen:
        seen.add(id(inner))
        if isinstance(inner, DCKDError) and str(inner) in text:
            return inner
        inner = inner.__cause__ or inner.__context__
    return None


def is_user_error(err: BaseException) -> bool:
    """Whether ``err`` reports bad input rather than a bug: a
    :class:`DCKDError`, also when a host library re-raised one
    (:func:`user_error`).

    Args:
        err (BaseException): the error a tool caught.

    Returns:
        bool: True for a user error, False for a bug.
    """
    return user_error(err) is not None


def report_error(err: BaseException) -> int:
    """Print what went wrong and return the tool's exit status.

    Args:
        err (BaseException): the error a tool caught.

    Returns:
        int: 2 for a user error (printed as one line ``error: ...``), 1 for
        anything else (printed with its traceback).
    """
    if is_user_error(err):
        print(f'error: {err}', file=sys.stderr, flush=True)
        return 2
    traceback.print_exception(type(err), err, err.__traceback__,
                              file=sys.stderr)
    sys.stderr.flush()
    return 1


def tool_exit(code: int) -> None:
    """End a tool with ``code``.

    In a distributed run that failed, exit at once (``os._exit``): other
    ranks may sit in a collective, and interpreter teardown with a live
    process group can block or abort. Otherwise ``sys.exit(code)``.

    Args:
        code (int): the exit status.
    """
    import torch.distributed as dist
    if code != 0 and dist.is_available() and dist.is_initialized():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
