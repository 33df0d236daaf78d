# Copyright (c) dckd_mm contributors. All rights reserved.
"""Reading a checkpoint's pickles statically: which globals they name.

:func:`.safe_loading.safe_load` uses this after torch refused a file, to
tell an *untrusted* file (its pickle names a callable that is not
allow-listed) from a *damaged* one (it names none, or only part of one),
and to name the refused callables in the message. Nothing here imports or
runs anything from the file: the bytes are walked with ``pickletools``.
"""
import io
import re
from typing import List, Set

__all__ = ['allowed_global_names', 'pickle_streams', 'globals_in_pickles',
           'unsafe_globals', 'names_global', 'DOTTED']


def allowed_global_names() -> Set[str]:
    """``module.name`` of every global torch's weights-only unpickler
    accepts now (its defaults, ``add_safe_globals`` and the current
    ``safe_globals`` context)."""
    from torch import _weights_only_unpickler as wou
    try:
        return set(wou._get_allowed_globals()) | set(
            wou._get_user_allowed_globals())
    except Exception:  # pragma: no cover - private API changed
        return set()


def pickle_streams(path: str) -> List[bytes]:
    """The pickle bytes a ``torch.load`` of ``path`` would unpickle: the
    ``data.pkl`` records of a zip checkpoint, else the whole file (a
    legacy checkpoint is a sequence of pickles, a raw pickle is one)."""
    import zipfile
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                return [
                    zf.read(n) for n in zf.namelist()
                    if n.endswith('data.pkl')
                ]
    except Exception:  # a damaged zip: scan its raw bytes instead
        pass
    with open(path, 'rb') as f:
        return [f.read()]


DOTTED = re.compile(r'[A-Za-z_]\w*(\.[A-Za-z_]\w*)+')
_STRING_OPS = frozenset({
    'UNICODE', 'BINUNICODE', 'SHORT_BINUNICODE', 'BINUNICODE8', 'STRING',
    'BINSTRING', 'SHORT_BINSTRING'
})


def globals_in_pickles(data: bytes, limit: int = 1 << 20) -> List[str]:
    """``module.name`` of every global that the complete pickles in
    ``data`` import, read statically (nothing is imported or run).

    Reads consecutive pickles (a legacy checkpoint is several) until one
    does not parse to its ``STOP``; a pickle that does not parse counts for
    nothing, so random bytes name no globals. ``STACK_GLOBAL`` names are
    the strings pushed (or fetched from the memo) before it.
    """
    import pickletools
    found: List[str] = []
    stream = io.BytesIO(data)
    ops = 0
    while stream.tell() < len(data) and ops < limit:
        start = stream.tell()
        names: List[str] = []
        strings: List[str] = []
        memo: dict = {}
        try:
            for op, arg, _ in pickletools.genops(stream):
                ops += 1
                if ops >= limit:
                    return found
                if op.name in ('GLOBAL', 'INST'):
                    names.append(str(arg).replace(' ', '.', 1))
                elif isinstance(arg, str) and op.name in _STRING_OPS:
                    strings.append(arg)
                elif op.name == 'MEMOIZE' and strings:
                    memo[len(memo)] = strings[-1]
                elif op.name in ('BINPUT', 'LONG_BINPUT', 'PUT') and strings:
                    memo[arg] = strings[-1]
                elif op.name in ('BINGET', 'LONG_BINGET', 'GET') and \
                        arg in memo:
                    strings.append(memo[arg])
                elif op.name == 'STACK_GLOBAL':
                    names.append(f'{strings[-2]}.{strings[-1]}' if len(
                        strings) >= 2 else '<unnamed STACK_GLOBAL>')
        except Exception:  # not (or no longer) a pickle
            break
        found.extend(names)
        if stream.tell() <= start:
            break
    return found


def unsafe_globals(path: str) -> List[str]:
    """Globals the pickles of ``path`` import that are not allow-listed
    (empty for a file that is simply damaged)."""
    allowed = allowed_global_names()
    names: List[str] = []
    try:
        for data in pickle_streams(path):
            for name in globals_in_pickles(data):
                if name not in allowed and name not in names:
                    names.append(name)
    except Exception:  # unreadable: nothing to report
        return []
    return names


def names_global(path: str, qualname: str) -> bool:
    """Whether a pickle of ``path`` holds a whole ``GLOBAL`` opcode for
    ``qualname`` (``module\\nname\\n``). A file truncated inside a global's
    name (``collections.Order``) holds none: it is damaged, not
    hostile."""
    needles = [f'{qualname[:i]}\n{qualname[i + 1:]}\n'.encode()
               for i, char in enumerate(qualname) if char == '.']
    try:
        return any(needle in data for data in pickle_streams(path)
                   for needle in needles)
    except Exception:  # unreadable: no evidence of a global
        return False
