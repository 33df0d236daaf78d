# Copyright (c) dckd_mm contributors. All rights reserved.
"""The mask rules of DCKD: one table read by both backends.

DCKD (Wang et al., PLOS ONE 2025, doi:10.1371/journal.pone.0314267) keeps
out of the loss the *acquired* classes ``A``, the non-target classes on
which the student is already at least as right as the teacher, and turns
SKD off (``m = 0``) where the target itself is acquired. The paper states
the rule in prose only; ``docs/method.md`` gives the project's reading and
the alternatives, each a row of :data:`MASK_RULES`:

- ``'as_good_as_teacher'`` (default): ``A = {k != y: p_s[k] <= p_t[k]}``,
  ``m = 0`` where ``p_s[y] >= p_t[y]``;
- ``'student_ge_teacher'`` (the first reading, for the ablation):
  ``A = {k != y: p_s[k] >= p_t[k]}``, ``m`` as above;
- ``'none'``: ``A`` empty, ``m = 1`` (DCKD is then DKD);
- ``'student_correct'``: ``A`` empty, ``m = 0`` where the student's top-1
  is right.

Each row holds the PyTorch form of the rule (:attr:`MaskRule.rest`), the
branch of the fused Triton kernel that implements the same rule
(:attr:`MaskRule.kernel_id`, ``RULE`` in
:mod:`dckd_mm.models.losses.triton_kernel`) and the rule's decision gap
(:attr:`MaskRule.gap`), which the kernel's self-check uses to leave out
rows whose masks float rounding could flip. Everything here imports torch
only.

The PyTorch forms take ``lp``, the detached log-softmax of student and
teacher logits divided by ``tau`` stacked as ``(2, N, C)``, ``lp_y`` its
target column ``(2, N)`` and ``labels`` ``(N,)``; they return ``on_r``
``(N, C)``, 1.0 on ``R`` (the non-target classes *kept*, the complement of
``A`` without the target) and 0.0 elsewhere, and ``m`` ``(N,)``, both in
``lp``'s dtype (float arithmetic rather than bool masks: on the CPU each
bool mask costs several times a float op). Classes are
compared as log-probabilities, never as probabilities: at logits of 1e4
every probability but one underflows to 0 in float32 and a ``0 <= 0`` tie
would wrongly mark a class acquired.
"""
from dataclasses import dataclass
from typing import Callable, Dict, Tuple

import torch
from torch import Tensor

__all__ = ['MaskRule', 'MASK_RULES']

RuleFn = Callable[[Tensor, Tensor, Tensor], Tuple[Tensor, Tensor]]
GapFn = Callable[[Tensor, Tensor], Tensor]


def _drop_target(keep: Tensor, labels: Tensor) -> Tensor:
    """``keep`` with each row's target column set to 0 (in place)."""
    return keep.scatter_(1, labels.unsqueeze(1), 0.0)


def _positive(x: Tensor) -> Tensor:
    """``1.0`` where ``x > 0``, else ``0.0``, as float arithmetic (on the
    CPU several times faster than a bool mask and its conversion)."""
    return x.sign_().clamp_(min=0.0)


def _rest_as_good_as_teacher(lp: Tensor, lp_y: Tensor,
                             labels: Tensor) -> Tuple[Tensor, Tensor]:
    """Default: ``R = {k != y : p_s[k] > p_t[k]}`` (the wrong classes the
    student over-weights), ``m = [p_s[y] < p_t[y]]``."""
    return (_drop_target(_positive(lp[0] - lp[1]), labels),
            _positive(lp_y[1] - lp_y[0]))


def _rest_student_ge_teacher(lp: Tensor, lp_y: Tensor,
                             labels: Tensor) -> Tuple[Tensor, Tensor]:
    """First reading (ablation): ``R = {k != y : p_s[k] < p_t[k]}``,
    ``m = [p_s[y] < p_t[y]]``: it removes exactly the wrong classes the
    student over-weights, so they never get a gradient."""
    return (_drop_target(_positive(lp[1] - lp[0]), labels),
            _positive(lp_y[1] - lp_y[0]))


def _rest_none(lp: Tensor, lp_y: Tensor,
               labels: Tensor) -> Tuple[Tensor, Tensor]:
    """``A`` empty, ``m = 1``: DCKD is DKD."""
    return _drop_target(lp.new_ones(lp.shape[1:]), labels), \
        lp.new_ones(lp.shape[1])


def _rest_student_correct(lp: Tensor, lp_y: Tensor,
                          labels: Tensor) -> Tuple[Tensor, Tensor]:
    """``A`` empty; ``m = 0`` where the student's top-1 is the label (the
    first maximum on ties, as ``torch.argmax`` and ``tl.argmax``)."""
    return (_drop_target(lp.new_ones(lp.shape[1:]), labels),
            (lp[0].argmax(dim=1) != labels).to(lp.dtype))


def _gap_pairwise(lp: Tensor, labels: Tensor) -> Tensor:
    """Rules comparing ``lp_s[k]`` with ``lp_t[k]`` on every class: the
    smallest ``|lp_s - lp_t|`` of the row; ``inf`` where the two rows are
    equal (both backends then compute the very same log-probabilities for
    student and teacher, so the ties are decided alike)."""
    d = (lp[0] - lp[1]).abs_()
    same = (d == 0).all(dim=1)
    return torch.where(same, float('inf'), d.amin(dim=1))


def _gap_none(lp: Tensor, labels: Tensor) -> Tensor:
    """No decision: never ambiguous."""
    return lp.new_full(lp.shape[1:2], float('inf'))


def _gap_top1(lp: Tensor, labels: Tensor) -> Tensor:
    """``|lp_s[y] - max_{k != y} lp_s[k]|``: how close the top-1 decision
    is to a tie."""
    s = lp[0]
    y = s.gather(1, labels.unsqueeze(1)).squeeze(1)
    other = s.scatter(1, labels.unsqueeze(1), float('-inf')).amax(dim=1)
    return (y - other).abs_()


@dataclass(frozen=True)
class MaskRule:
    """One mask rule of DCKD, as both backends implement it.

    Attributes:
        name (str): the ``mask=`` value.
        kernel_id (int): the ``RULE`` branch of the Triton kernel.
        rest (callable): the PyTorch form, ``(lp (2, N, C), lp_y (2, N),
            labels (N,)) -> (on_r (N, C), m (N,))``.
        gap (callable): ``(lp (2, N, C), labels (N,)) -> (N,)``, the
            smallest margin of the rule's decisions in a row (``inf`` when
            it decides nothing).
        summary (str): one line for messages and docs.
    """

    name: str
    kernel_id: int
    rest: RuleFn
    gap: GapFn
    summary: str

    def __call__(self, lp: Tensor, lp_y: Tensor,
                 labels: Tensor) -> Tuple[Tensor, Tensor]:
        """``(on_r, m)`` of the PyTorch form (see the module docstring)."""
        return self.rest(lp, lp_y, labels)


MASK_RULES: Dict[str, MaskRule] = {
    rule.name: rule
    for rule in (
        MaskRule('as_good_as_teacher', 0, _rest_as_good_as_teacher,
                 _gap_pairwise, 'A = {k != y: p_s[k] <= p_t[k]}, '
                 'm = 0 if p_s[y] >= p_t[y] (default)'),
        MaskRule('student_ge_teacher', 1, _rest_student_ge_teacher,
                 _gap_pairwise, 'A = {k != y: p_s[k] >= p_t[k]}, '
                 'm = 0 if p_s[y] >= p_t[y] (first reading)'),
        MaskRule('none', 2, _rest_none, _gap_none,
                 'A empty, m = 1 (DKD)'),
        MaskRule('student_correct', 3, _rest_student_correct, _gap_top1,
                 "A empty, m = 0 where the student's top-1 is right"),
    )
}
