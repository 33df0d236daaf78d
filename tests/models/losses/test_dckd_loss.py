# Copyright (c) dckd_mm contributors. All rights reserved.
"""dckd_loss / DCKDLoss against independent reference formulas.

The references below are written from docs/method.md directly: per sample,
in float64, with explicit index sets and plain softmax over subsets.
"""
import math

import pytest
import torch
import torch.nn.functional as F
from mmengine.logging import MessageHub
from torch.testing import assert_close

import dckd_mm  # noqa: F401  (registration)
from dckd_mm.models.losses import DCKDLoss, dckd_loss, dckd_parts

RULES = ('as_good_as_teacher', 'student_ge_teacher', 'none',
         'student_correct')


def ref_sets(s, t, y, tau, rule):
    """Acquired set A (list) and target factor m (float) of one sample."""
    ps, pt = F.softmax(s / tau, 0), F.softmax(t / tau, 0)
    C = s.numel()
    if rule == 'as_good_as_teacher':
        # at least as right as the teacher: no more mass on a wrong class
        A = [k for k in range(C) if k != y and ps[k] <= pt[k]]
        m = 0.0 if ps[y] >= pt[y] else 1.0
    elif rule == 'student_ge_teacher':
        A = [k for k in range(C) if k != y and ps[k] >= pt[k]]
        m = 0.0 if ps[y] >= pt[y] else 1.0
    elif rule == 'none':
        A, m = [], 1.0
    else:
        A, m = [], 0.0 if int(s.argmax()) == y else 1.0
    return A, m


def ref_sample(s, t, y, tau, rule):
    """(SKD, PKD) of one sample, tau^2 included, autograd through s."""
    A, m = ref_sets(s.detach(), t, y, tau, rule)
    C = s.numel()
    K = [k for k in range(C) if k not in A]
    R = [k for k in K if k != y]

    def binary(z):
        p = F.softmax(z[K] / tau, 0)
        py = p[K.index(y)]
        return py, p.sum() - py

    bs, bt = binary(s), binary(t)
    skd = sum(qt * (torch.log(qt) - torch.log(qs))
              for qt, qs in zip(bt, bs) if float(qt) > 0)
    skd = m * tau**2 * skd if m else s.sum() * 0
    if R:
        qs, qt = F.softmax(s[R] / tau, 0), F.softmax(t[R] / tau, 0)
        pkd = tau**2 * (qt * (qt.log() - qs.log())).sum()
    else:
        pkd = s.sum() * 0
    return skd, pkd


def ref_loss(s, t, y, tau=4.0, alpha=1.0, beta=0.5, rule=RULES[0],
             parts='both'):
    out = []
    for i in range(s.shape[0]):
        skd, pkd = ref_sample(s[i], t[i], int(y[i]), tau, rule)
        w_s = alpha if parts in ('both', 'skd') else 0.0
        w_p = beta if parts in ('both', 'pkd') else 0.0
        out.append(w_s * skd + w_p * pkd)
    return torch.stack(out)


def make(n=12, c=7, scale=3.0, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    s = torch.randn(n, c, generator=g, dtype=dtype) * scale
    t = torch.randn(n, c, generator=g, dtype=dtype) * scale
    y = torch.randint(0, c, (n, ), generator=g)
    return s, t, y


@pytest.mark.parametrize('rule', RULES)
@pytest.mark.parametrize('c', [2, 5, 100])
@pytest.mark.parametrize('parts', ['both', 'skd', 'pkd'])
def test_matches_reference_value_and_gradient(rule, c, parts):
    s, t, y = make(c=c, seed=c)
    s1 = s.clone().requires_grad_()
    s2 = s.clone().requires_grad_()
    ours = dckd_loss(s1, t, y, tau=4.0, alpha=1.0, beta=0.5, mask=rule,
                     parts=parts)
    ref = ref_loss(s2, t, y, rule=rule, parts=parts).mean()
    assert_close(ours, ref, rtol=1e-10, atol=1e-12)
    ours.backward()
    ref.backward()
    assert_close(s1.grad, s2.grad, rtol=1e-9, atol=1e-12)


def test_default_rule_really_masks():
    """The default rule differs from DKD on typical inputs: A is used."""
    s, t, y = make(n=32, c=10)
    assert not torch.allclose(
        dckd_loss(s, t, y), dckd_loss(s, t, y, mask='none'))
    # ... and on a hand-made sample: the student over-weights class 1 only
    # (p_s[2] < p_t[2]: class 2 is acquired and leaves the support).
    s = torch.tensor([[2.0, 3.0, 0.0]], dtype=torch.float64)
    t = torch.tensor([[3.0, 1.0, 0.5]], dtype=torch.float64)
    y = torch.tensor([0])
    skd, pkd = dckd_parts(s, t, y, tau=1.0)
    # R = {1}: PKD is over one class (a point mass): exactly 0.
    assert float(pkd) == 0.0
    # SKD over K = {0, 1}: binary KL of [p(0), p(1)] renormalised.
    e_s = F.softmax(torch.tensor([2.0, 3.0], dtype=torch.float64), 0)
    e_t = F.softmax(torch.tensor([3.0, 1.0], dtype=torch.float64), 0)
    assert_close(skd[0], (e_t * (e_t / e_s).log()).sum())
    # The first reading keeps class 2 instead (A = {1}).
    skd, _ = dckd_parts(s, t, y, tau=1.0, mask='student_ge_teacher')
    e_s = F.softmax(torch.tensor([2.0, 0.0], dtype=torch.float64), 0)
    e_t = F.softmax(torch.tensor([3.0, 0.5], dtype=torch.float64), 0)
    assert_close(skd[0], (e_t * (e_t / e_s).log()).sum())


def test_default_is_as_good_as_teacher():
    import inspect
    for fn in (dckd_loss, dckd_parts, DCKDLoss.__init__):
        default = inspect.signature(fn).parameters['mask'].default
        assert default == 'as_good_as_teacher'


@pytest.mark.parametrize('c', [2, 10, 100])
def test_default_rule_gradient_direction(c):
    """With m = 1, descent lowers every over-weighted wrong class and
    raises the target; acquired classes get exactly zero gradient. PKD
    alone only redistributes inside R (its gradient sums to 0 there)."""
    tau = 4.0
    s, t, y = make(n=64, c=c, seed=c + 1)
    ps, pt = F.softmax(s / tau, 1), F.softmax(t / tau, 1)
    gt = F.one_hot(y, c).bool()
    over = (ps > pt) & ~gt  # R: wrong classes the student over-weights
    m = (ps.gather(1, y[:, None]) < pt.gather(1, y[:, None])).squeeze(1)
    acquired = ~over & ~gt
    assert m.any() and (~m).any() and acquired.any() and over.any()
    x = s.clone().requires_grad_()
    dckd_loss(x, t, y, parts='skd', reduction='sum').backward()
    g = x.grad
    assert (g[acquired] == 0).all()
    assert (g[m[:, None] & over] > 0).all()  # descent lowers them
    assert (g[m[:, None] & gt] < 0).all()  # descent raises the target
    assert (g[~m] == 0).all()  # m = 0: SKD is off for the sample
    x = s.clone().requires_grad_()
    dckd_loss(x, t, y, parts='pkd', reduction='sum').backward()
    g = x.grad
    assert (g[acquired] == 0).all() and (g[gt] == 0).all()
    assert_close(g.sum(1), torch.zeros(64, dtype=g.dtype), atol=1e-12,
                 rtol=0)
    x = s.clone().requires_grad_()
    dckd_loss(x, t, y, reduction='sum').backward()
    assert (x.grad[acquired] == 0).all()
    # the first reading's rule starves exactly those classes of gradient
    x = s.clone().requires_grad_()
    dckd_loss(x, t, y, mask='student_ge_teacher',
              reduction='sum').backward()
    assert (x.grad[(ps >= pt) & ~gt] == 0).all()


def dkd_mdistiller_form(s, t, y, tau, alpha, beta):
    """mdistiller's dkd_loss (batch-mean form), rewritten for the test."""
    gt = F.one_hot(y, s.shape[1]).bool()
    ps, pt = F.softmax(s / tau, 1), F.softmax(t / tau, 1)
    bs = torch.stack([(ps * gt).sum(1), (ps * ~gt).sum(1)], 1)
    bt = torch.stack([(pt * gt).sum(1), (pt * ~gt).sum(1)], 1)
    tckd = F.kl_div(bs.log(), bt, reduction='sum') * tau**2 / s.shape[0]
    ls = F.log_softmax(s / tau - 1000.0 * gt, 1)
    lt = F.softmax(t / tau - 1000.0 * gt, 1)
    nckd = F.kl_div(ls, lt, reduction='sum') * tau**2 / s.shape[0]
    return alpha * tckd + beta * nckd


@pytest.mark.parametrize('tau,alpha,beta', [(4.0, 1.0, 0.5), (1.0, 1.0, 8.0),
                                            (2.0, 0.3, 1.0)])
def test_mask_none_is_dkd(tau, alpha, beta):
    s, t, y = make(n=16, c=10)
    assert_close(
        dckd_loss(s, t, y, tau=tau, alpha=alpha, beta=beta, mask='none'),
        dkd_mdistiller_form(s, t, y, tau, alpha, beta))


def test_kd_identity():
    """SKD + (1 - p_t[y]) * PKD == tau^2 KL(p_t || p_s) with mask='none'."""
    tau = 4.0
    s, t, y = make(n=16, c=10)
    skd, pkd = dckd_parts(s, t, y, tau=tau, mask='none')
    pt = F.softmax(t / tau, 1)
    w = 1 - pt.gather(1, y[:, None]).squeeze(1)
    kd = tau**2 * F.kl_div(
        F.log_softmax(s / tau, 1), pt, reduction='none').sum(1)
    assert_close(skd + w * pkd, kd)


def test_mmrazor_dkdloss_reductions_as_installed():
    """mmrazor 1.0.0's DKDLoss passes the legacy ``size_average=False`` to
    ``F.kl_div``, which forces a *sum*; torch then still divides by N for
    ``'batchmean'``. Measured: ``'batchmean'`` is a true batch mean (equal
    to DCKD with ``mask='none'``), while ``'mean'`` (the value mmrazor's own
    DKD config uses), ``'sum'`` and ``'none'`` all return the batch *sum*.
    """
    import warnings

    from mmrazor.models.losses import DKDLoss
    s, t, y = make(n=16, c=10, dtype=torch.float32)
    ours_mean = dckd_loss(s, t, y, tau=4.0, beta=0.5, mask='none')
    ours_sum = dckd_loss(s, t, y, tau=4.0, beta=0.5, mask='none',
                         reduction='sum')
    assert_close(ours_sum, ours_mean * s.shape[0])
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # size_average deprecation
        got = {
            red: DKDLoss(tau=4.0, beta=0.5, reduction=red)(s, t, y)
            for red in ('batchmean', 'mean', 'sum', 'none')
        }
    assert_close(got['batchmean'], ours_mean, rtol=1e-4, atol=1e-6)
    for red in ('mean', 'sum', 'none'):
        assert got[red].dim() == 0
        assert_close(got[red], ours_sum, rtol=1e-4, atol=1e-5)


def test_no_gradient_to_teacher_and_masks_constant():
    s, t, y = make(dtype=torch.float32)
    s.requires_grad_()
    t.requires_grad_()
    dckd_loss(s, t, y).backward()
    assert t.grad is None
    assert s.grad is not None and torch.isfinite(s.grad).all()


def test_gradcheck_float64():
    s, t, y = make(n=6, c=6)
    s.requires_grad_()
    for rule in RULES:
        assert torch.autograd.gradcheck(
            lambda x: dckd_loss(x, t, y, mask=rule, reduction='none'), (s, ),
            eps=1e-6, atol=1e-6)


@pytest.mark.parametrize('rule', RULES)
@pytest.mark.parametrize('c', [2, 1000])
def test_finite_large_logits(rule, c):
    s, t, y = make(n=8, c=c, scale=1e4, dtype=torch.float32, seed=c)
    s.requires_grad_()
    loss = dckd_loss(s, t, y, mask=rule)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(s.grad).all()
    ref = dckd_loss(s.detach().double(), t.double(), y, mask=rule)
    assert_close(loss.double(), ref, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize('rule', RULES)
def test_large_logits_match_reference_in_float64(rule):
    # The naive reference takes log of probabilities: at 1e4 it is NaN
    # itself, so compare where float64 still holds it (|z / tau| ~ 100).
    s, t, y = make(n=6, c=6, scale=100.0, seed=3)
    assert_close(dckd_loss(s, t, y, mask=rule),
                 ref_loss(s, t, y, rule=rule).mean(), rtol=1e-9, atol=1e-6)


def test_huge_logits_mask_has_no_underflow_ties():
    """At |z| = 1e4 every softmax probability but one underflows to 0 in
    float32; the acquired set must still follow the log-probabilities."""
    s, t, y = make(n=8, c=1000, scale=1e4, dtype=torch.float32, seed=1)
    loss32 = dckd_loss(s, t, y)
    loss64 = dckd_loss(s.double(), t.double(), y)
    assert float(loss32) > 1.0
    assert_close(loss32.double(), loss64, rtol=1e-4, atol=1e-3)


def _cpu_autocast_supports(dtype: torch.dtype) -> bool:
    """torch 2.1's CPU autocast takes bfloat16 only; later ones fp16 too."""
    try:
        with torch.autocast('cpu', dtype=dtype):
            return torch.nn.functional.linear(
                torch.ones(1, 2), torch.ones(3, 2)).dtype == dtype
    except RuntimeError:
        return False


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_autocast(dtype):
    if not _cpu_autocast_supports(dtype):
        pytest.skip(f'CPU autocast of this torch does not support {dtype}')
    lin = torch.nn.Linear(16, 100)
    x = torch.randn(32, 16) * 5
    t = torch.randn(32, 100)
    y = torch.randint(0, 100, (32, ))
    with torch.autocast('cpu', dtype=dtype):
        logits = lin(x)
        assert logits.dtype == dtype
        loss = dckd_loss(logits, t.to(dtype), y)
    assert loss.dtype == torch.float32
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in lin.parameters())
    ref = dckd_loss(logits.detach().float(), t.to(dtype).float(), y)
    assert_close(loss, ref)


def test_underflowing_rest_sums_stay_exact():
    """A target that dwarfs R by thousands of logits makes every
    probability on R underflow relative to the full normaliser; the sums
    over R are taken relative to R's own maximum, so the loss and gradient
    still match float64 (no branch, no host read)."""
    s, t, y = make(n=4, c=6, scale=1.0, dtype=torch.float32)
    s[0, y[0]] += 2000.0
    s.requires_grad_()
    loss = dckd_loss(s, t, y, mask='none')
    loss.backward()
    s64 = s.detach().double().requires_grad_()
    ref = dckd_loss(s64, t.double(), y, mask='none')
    ref.backward()
    assert_close(loss.double(), ref, rtol=1e-5, atol=1e-5)
    assert_close(s.grad.double(), s64.grad, rtol=1e-4, atol=1e-6)
    # the PKD of that row is finite and not lost
    _, pkd = dckd_parts(s.detach(), t, y, mask='none')
    assert torch.isfinite(pkd).all() and float(pkd[0]) > 0


@pytest.mark.parametrize('rule', RULES)
def test_huge_logits_no_overflow_inside_the_masks(rule):
    """exp(lp - max_R) overflows off R (the target can sit far above R);
    those entries must be dropped, not multiplied by 0 (inf * 0 = nan)."""
    s, t, y = make(n=4, c=100, scale=1e4, dtype=torch.float32, seed=7)
    t[1] = s[1]
    skd, pkd = dckd_parts(s, t, y, mask=rule)
    assert torch.isfinite(skd).all() and torch.isfinite(pkd).all()


def test_mixed_dtypes_student_bf16_teacher_fp32():
    s, t, y = make(dtype=torch.float32)
    s16 = s.to(torch.bfloat16).requires_grad_()
    loss = dckd_loss(s16, t, y)
    loss.backward()
    assert s16.grad.dtype == torch.bfloat16
    assert_close(loss, dckd_loss(s.to(torch.bfloat16).float(), t, y))


@pytest.mark.parametrize('rule', RULES)
def test_zero_at_equality(rule):
    s, _, y = make(dtype=torch.float32)
    s.requires_grad_()
    loss = dckd_loss(s, s.detach().clone(), y, mask=rule)
    assert float(loss) == 0.0
    loss.backward()
    assert_close(s.grad, torch.zeros_like(s))


def test_empty_rest_gives_zero_pkd_and_finite_grad():
    # Student at or below the teacher on every non-target class (so above
    # it on the target): everything is acquired, R is empty, m = 0.
    t = torch.tensor([[0.0, 1.0, 1.0, 1.0]])
    s = torch.tensor([[5.0, 0.0, 0.0, 0.0]], requires_grad=True)
    skd, pkd = dckd_parts(s, t, torch.tensor([0]))
    assert float(pkd) == 0.0 and float(skd) == 0.0
    (skd + pkd).sum().backward()
    assert torch.isfinite(s.grad).all() and (s.grad == 0).all()
    # The first reading's empty R: student ahead on every non-target.
    s2 = t.clone().requires_grad_()
    skd, pkd = dckd_parts(s2, s.detach(), torch.tensor([0]),
                          mask='student_ge_teacher')
    assert float(pkd) == 0.0 and float(skd) == 0.0
    (skd + pkd).sum().backward()
    assert torch.isfinite(s2.grad).all()


def test_reductions_and_parts():
    s, t, y = make(n=10, c=9)
    per = dckd_loss(s, t, y, reduction='none')
    assert per.shape == (10, )
    assert_close(dckd_loss(s, t, y, reduction='sum'), per.sum())
    assert_close(dckd_loss(s, t, y), per.mean())
    both = dckd_loss(s, t, y, alpha=0.7, beta=0.2)
    assert_close(
        both,
        dckd_loss(s, t, y, alpha=0.7, beta=0.2, parts='skd') +
        dckd_loss(s, t, y, alpha=0.7, beta=0.2, parts='pkd'))
    # (N, 1) labels are accepted.
    assert_close(dckd_loss(s, t, y[:, None]), dckd_loss(s, t, y))
    # empty batch
    e = torch.zeros(0, 9)
    assert float(dckd_loss(e, e, torch.zeros(0, dtype=torch.long))) == 0.0


@pytest.mark.parametrize('kwargs,inputs,match', [
    ({}, ((4, 5), (4, 6), (4, )), 'differ in shape'),
    ({}, ((4, 5), (4, 5), (3, )), 'gt_labels must be'),
    ({}, ((4, 5), (4, 5), 'float'), 'integer class indices'),
    ({}, ((4, 5), (4, 5), 'range'), r'must lie in \[0, 5\)'),
    ({}, ((4, 5), (4, 5), 'negative'), r'must lie in \[0, 5\)'),
    ({}, ((4, 5), (4, 5), 'nan'), 'NaN or Inf'),
    ({}, ((4, 5), (4, 5), 'soft'), 'One-hot or soft labels'),
    ({}, ((4, 1), (4, 1), (4, )), 'at least 2 classes'),
    ({}, ((5, ), (5, ), (1, )), r'\(N, C\) logits'),
    (dict(tau=0), ((4, 5), (4, 5), (4, )), 'tau must be'),
    (dict(tau=-1.0), ((4, 5), (4, 5), (4, )), 'tau must be'),
    (dict(mask='teacher'), ((4, 5), (4, 5), (4, )), 'unknown mask rule'),
    (dict(reduction='mean'), ((4, 5), (4, 5), (4, )), 'unknown reduction'),
    (dict(parts='tckd'), ((4, 5), (4, 5), (4, )), 'unknown parts'),
])
def test_bad_input(kwargs, inputs, match):
    s_shape, t_shape, y_spec = inputs
    s, t = torch.randn(*s_shape), torch.randn(*t_shape)
    n = s_shape[0]
    c = s_shape[-1]
    if y_spec == 'float':
        y = torch.zeros(n)
    elif y_spec == 'range':
        y = torch.full((n, ), c)
    elif y_spec == 'negative':
        y = torch.full((n, ), -1)
    elif y_spec == 'nan':
        y = torch.zeros(n, dtype=torch.long)
        s[0, 0] = float('nan')
    elif y_spec == 'soft':
        y = torch.softmax(torch.randn(n, c), 1)
    else:
        y = torch.zeros(*y_spec, dtype=torch.long)
    with pytest.raises(ValueError, match=match):
        dckd_loss(s, t, y, **kwargs)


def test_module_matches_function_and_validates():
    s, t, y = make(dtype=torch.float32)
    mod = DCKDLoss(tau=2.0, alpha=0.5, beta=2.0, loss_weight=3.0)
    assert_close(mod(s, t, y),
                 3.0 * dckd_loss(s, t, y, tau=2.0, alpha=0.5, beta=2.0))
    for bad in (dict(tau=0), dict(mask='x'), dict(reduction='mean'),
                dict(parts='x'), dict(warmup_epochs=-1),
                dict(warmup_epochs=1.5), dict(alpha=-1.0), dict(beta=-0.5),
                dict(loss_weight=-1.0), dict(loss_weight=float('nan')),
                dict(beta=float('inf')), dict(alpha='1')):
        with pytest.raises(ValueError):
            DCKDLoss(**bad)


def test_warmup_reads_message_hub():
    s, t, y = make(dtype=torch.float32)
    full = DCKDLoss()(s, t, y)
    hub = MessageHub.get_instance('dckd_warmup_test')
    mod = DCKDLoss(warmup_epochs=4)
    for epoch, factor in ((0, 0.25), (1, 0.5), (3, 1.0), (10, 1.0)):
        hub.update_info('epoch', epoch)
        assert_close(mod(s, t, y), factor * full)
    # off by default: the same hub state changes nothing
    hub.update_info('epoch', 0)
    assert_close(DCKDLoss()(s, t, y), full)


def test_registration_names():
    from mmrazor.models.losses import PKDLoss as RazorPKD
    from mmrazor.registry import MODELS
    assert MODELS.get('DCKDLoss') is DCKDLoss
    # mmrazor's own PKDLoss (a different paper) is untouched; no SKDLoss.
    assert MODELS.get('PKDLoss') is RazorPKD
    assert 'SKDLoss' not in MODELS.module_dict
    assert math.isclose(DCKDLoss().beta, 0.5)
