# Copyright (c) dckd_mm contributors. All rights reserved.
"""Verdicts on the paper's claims from the mean top-1 over seeds.

A claim (:mod:`.sets`) compares one method (``better``) with one or more
others (``worse``). Each comparison is the difference of the mean top-1
over seeds and its standard error,
``sqrt(std_a**2 / n_a + std_b**2 / n_b)``. The claim holds here when every
difference is >= 0. "(within noise)" marks a verdict the noise could
overturn: a claim that holds, when some difference is smaller than twice
its standard error; a claim that does not hold, when every negative
difference is (one negative difference beyond twice its standard error
decides the verdict alone). With a single seed there is no
standard error, and no verdict: on one seed the sign of a difference of a
few tenths depends on the machine's floating-point path.
"""
import math
from typing import List, Mapping, Optional, Sequence, Tuple

__all__ = ['difference', 'verdict', 'claims_table', 'NO_VERDICT']

NO_VERDICT = 'no verdict (1 seed: no standard error)'

Diff = Tuple[float, Optional[float]]


def difference(better: Mapping, worse: Mapping) -> Diff:
    """Mean difference ``better - worse`` of two summary rows and its
    standard error.

    Args:
        better (Mapping): a summary row: ``top1_mean``, ``top1_std``
            (sample standard deviation over seeds) and ``seeds``.
        worse (Mapping): the row it is compared with.

    Returns:
        tuple: ``(difference, standard error)``; the standard error is
        ``None`` when either row has fewer than two seeds.
    """
    diff = float(better['top1_mean']) - float(worse['top1_mean'])
    if better['seeds'] < 2 or worse['seeds'] < 2:
        return diff, None
    se = math.sqrt(better['top1_std']**2 / better['seeds'] +
                   worse['top1_std']**2 / worse['seeds'])
    return diff, se


def verdict(diffs: Sequence[Diff]) -> str:
    """The verdict on a claim from its differences (:func:`difference`).

    Returns:
        str: :data:`NO_VERDICT` if some difference has no standard error;
        else ``'holds here'`` (every difference >= 0) or ``'does not hold
        here'``, followed by ``' (within noise)'`` when the noise could
        overturn it: for ``'holds here'``, some difference is smaller in
        size than twice its standard error; for ``'does not hold here'``,
        every negative difference is.
    """
    if not diffs:
        raise ValueError('a claim needs at least one comparison.')
    if any(se is None for _, se in diffs):
        return NO_VERDICT
    failing = [(d, se) for d, se in diffs if d < 0]
    if not failing:
        noisy = any(abs(d) < 2 * se for d, se in diffs)
        return 'holds here' + (' (within noise)' if noisy else '')
    noisy = all(abs(d) < 2 * se for d, se in failing)
    return 'does not hold here' + (' (within noise)' if noisy else '')


def _here(better: Mapping, worse: Mapping, diff: Diff) -> str:
    d, se = diff
    spread = '1 seed, no s.e.' if se is None else f'+- {se:.2f}'
    return f'{better["method"]} - {worse["method"]} = {d:+.2f} ({spread})'


def claims_table(result: Mapping) -> Optional[str]:
    """Markdown table of the claims a comparison result tests.

    Args:
        result (Mapping): from :func:`~.comparison.run_comparison`:
            ``claims`` (the set's claims) and ``methods`` (summary rows
            with ``id``).

    Returns:
        str or None: one row per claim, ``None`` when the set tests none.

    Raises:
        KeyError: a claim names a method id the result lacks (the sets
            loader refuses such a set).
    """
    claims = result.get('claims') or []
    if not claims:
        return None
    rows = {r['id']: r for r in result['methods']}
    lines: List[str] = [
        '| claim | paper | here: difference (+- s.e.) | verdict |',
        '| --- | --- | --- | --- |'
    ]
    for claim in claims:
        better = rows[claim['better']]
        worse = [rows[w] for w in claim['worse']]
        diffs = [difference(better, w) for w in worse]
        here = '; '.join(_here(better, w, d) for w, d in zip(worse, diffs))
        lines.append(f'| {claim["text"]} | {claim["paper"]} | {here} | '
                     f'{verdict(diffs)} |')
    return '\n'.join(lines)
