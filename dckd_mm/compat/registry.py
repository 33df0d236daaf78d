# Copyright (c) dckd_mm contributors. All rights reserved.
"""One small registry for every host fix: install, uninstall, and why.

Each fix in :mod:`dckd_mm.compat` is a :class:`Fix`: a name, a one-line
summary, a *feature test* (``needed()``) that probes the running host and
returns the reason the host needs the fix (or ``None`` when the host works
without it), and ``install`` / ``uninstall``. :func:`apply` runs every
feature test and installs only the fixes whose test says so; what was
decided and why is kept in :func:`status` and printed by
``python -m dckd_mm.compat``.

Attribute patches go through :class:`Patches`, the one "save the original,
then patch" idiom of the package: it remembers each original exactly once
and restores it on ``restore()``.
"""
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

__all__ = ['Fix', 'FixStatus', 'Patches', 'apply', 'uninstall', 'status',
           'format_status']


class Patches:
    """Attribute patches that can be undone, originals saved once.

    Example:
        >>> patches = Patches()
        >>> patches.set(some_module, 'func', replacement)
        >>> patches.original(some_module, 'func')  # the saved original
        >>> patches.restore()                      # every original back
    """

    def __init__(self) -> None:
        self._saved: Dict[Tuple[int, str], Tuple[Any, str, Any]] = {}

    def set(self, owner: Any, name: str, new: Any) -> None:
        """``setattr(owner, name, new)``, saving the original first."""
        key = (id(owner), name)
        if key not in self._saved:
            self._saved[key] = (owner, name, getattr(owner, name))
        setattr(owner, name, new)

    def original(self, owner: Any, name: str) -> Any:
        """The value ``owner.name`` had before the first :meth:`set`."""
        key = (id(owner), name)
        if key in self._saved:
            return self._saved[key][2]
        return getattr(owner, name)

    @property
    def active(self) -> bool:
        """Whether any patch is in place."""
        return bool(self._saved)

    def restore(self) -> None:
        """Put every original back (idempotent)."""
        for owner, name, value in reversed(list(self._saved.values())):
            setattr(owner, name, value)
        self._saved.clear()


@dataclass(frozen=True)
class Fix:
    """A narrow fix for a host library.

    Attributes:
        name (str): short id, e.g. ``'safe_loading'``.
        summary (str): what the fix does, in one line.
        needed (Callable[[], Optional[str]]): the feature test. Probes the
            running host (never a version string where a probe can be
            written) and returns why the host needs the fix, or ``None``.
        install (Callable[[], None]): applies the fix (idempotent).
        uninstall (Callable[[], None]): undoes it (idempotent).
    """
    name: str
    summary: str
    needed: Callable[[], Optional[str]]
    install: Callable[[], None]
    uninstall: Callable[[], None]


@dataclass(frozen=True)
class FixStatus:
    """What :func:`apply` decided for one fix."""
    name: str
    summary: str
    active: bool
    reason: str


_STATUS: Dict[str, FixStatus] = {}


def apply(fixes: Sequence[Fix]) -> List[FixStatus]:
    """Run each fix's feature test and install the fixes the host needs.

    Idempotent: a fix already decided is not probed again.

    Returns:
        list[FixStatus]: the decision for each fix, in order.
    """
    for fix in fixes:
        if fix.name in _STATUS:
            continue
        reason = fix.needed()
        if reason:
            fix.install()
            _STATUS[fix.name] = FixStatus(fix.name, fix.summary, True,
                                          reason)
        else:
            _STATUS[fix.name] = FixStatus(
                fix.name, fix.summary, False,
                'not needed: the host works without it')
    return [_STATUS[fix.name] for fix in fixes]


def uninstall(fixes: Sequence[Fix]) -> None:
    """Undo every installed fix and forget the decisions (for tests)."""
    for fix in reversed(list(fixes)):
        fix.uninstall()
        _STATUS.pop(fix.name, None)


def status() -> List[FixStatus]:
    """The decisions made so far, in the order the fixes were applied."""
    return list(_STATUS.values())


def format_status(rows: Sequence[FixStatus]) -> str:
    """A plain-text table of :func:`status`, one fix per paragraph."""
    lines = []
    for row in rows:
        state = 'ACTIVE  ' if row.active else 'inactive'
        lines.append(f'{state} {row.name}: {row.summary}')
        lines.append(f'         why: {row.reason}')
    return '\n'.join(lines)
