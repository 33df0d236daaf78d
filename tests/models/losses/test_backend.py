# Copyright (c) dckd_mm contributors. All rights reserved.
"""The backend switch, the kernel's self-check and the shared option
validator, in this process (no compiled kernel: the tests replace the
kernel launch with a stand-in computed from the PyTorch path, exact or
deliberately wrong; the real kernel runs in test_dckd_triton.py)."""
import warnings

import pytest
import torch
from torch.testing import assert_close

import dckd_mm  # noqa: F401  (registration)
from dckd_mm.errors import ConfigError, UnsupportedHostError
from dckd_mm.models.losses import (DCKDLoss, backend, check_dckd_options,
                                   dckd_loss, dckd_parts, triton_kernel)
from dckd_mm.models.losses.torch_parts import grad_from_terms, torch_terms
from tests.test_no_host_sync import SyncCounter

needs_triton = pytest.mark.skipif(not triton_kernel.HAVE_TRITON,
                                  reason='Triton is not installed')


def make(n=16, c=30, scale=3.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    s = torch.randn(n, c, generator=g) * scale
    t = torch.randn(n, c, generator=g) * scale
    y = torch.randint(0, c, (n, ), generator=g)
    return s, t, y


def stand_in(corrupt=None):
    """A kernel launch computed from the PyTorch path (independently of the
    kernel code), optionally corrupted: ``corrupt(skd, pkd, gs, gp)``."""
    calls = []

    def launch(preds_S, preds_T, labels, tau, rule_id):
        from dckd_mm.models.losses import MASK_RULES
        mask = next(r.name for r in MASK_RULES.values()
                    if r.kernel_id == rule_id)
        terms = torch_terms(preds_S, preds_T, labels, tau, mask)
        one, zero = torch.ones(()), torch.zeros(())
        out = (terms.skd.float(), terms.pkd.float(),
               grad_from_terms(terms.q, labels, terms.mdelta, one, zero,
                               tau).float(),
               grad_from_terms(terms.q, labels, terms.mdelta, zero, one,
                               tau).float())
        calls.append(mask)
        return corrupt(*out) if corrupt else out

    launch.calls = calls
    return launch


@pytest.fixture
def kernel_on_cpu(monkeypatch):
    """Let 'auto' and 'triton' take the kernel for CPU tensors (as under
    Triton's interpreter), with a fresh self-check record."""
    monkeypatch.setenv('TRITON_INTERPRET', '1')
    monkeypatch.delenv('DCKD_MM_NO_TRITON', raising=False)
    backend.reset_self_check()
    yield monkeypatch
    backend.reset_self_check()


def grad_of(fn, s):
    x = s.clone().requires_grad_()
    loss = fn(x)
    loss.backward()
    return loss, x.grad


def test_auto_takes_the_pytorch_path_on_the_cpu(monkeypatch):
    monkeypatch.delenv('TRITON_INTERPRET', raising=False)
    s, t, y = make()
    assert backend.choose_backend(s, t, 'auto') == 'torch'
    loss = dckd_loss(s.requires_grad_(), t, y)
    assert type(loss.grad_fn).__name__ == '_DCKDPartsBackward'


def test_triton_where_it_cannot_run_is_an_error(monkeypatch):
    monkeypatch.delenv('TRITON_INTERPRET', raising=False)
    monkeypatch.delenv('DCKD_MM_NO_TRITON', raising=False)
    s, t, y = make()
    with pytest.raises(UnsupportedHostError, match="backend='triton'"):
        dckd_loss(s, t, y, backend='triton')
    monkeypatch.setenv('TRITON_INTERPRET', '1')
    if triton_kernel.HAVE_TRITON:
        with pytest.raises(UnsupportedHostError, match='float64'):
            dckd_parts(s.double(), t.double(), y, backend='triton')
        big = torch.zeros(2, 8193)
        with pytest.raises(UnsupportedHostError, match='8193'):
            dckd_parts(big, big, torch.zeros(2).long(), backend='triton')
    monkeypatch.setenv('DCKD_MM_NO_TRITON', '1')
    with pytest.raises(ConfigError, match='DCKD_MM_NO_TRITON'):
        dckd_loss(s, t, y, backend='triton')
    # the environment variable only steers 'auto'
    assert backend.choose_backend(s, t, 'auto') == 'torch'


def test_backend_is_a_config_key_of_the_module():
    from mmengine.registry import DefaultScope
    from mmrazor.registry import MODELS

    # built in mmrazor's scope, whatever an earlier test left as default
    with DefaultScope.overwrite_default_scope('mmrazor'):
        mod = MODELS.build(dict(type='DCKDLoss', backend='torch'))
    assert isinstance(mod, DCKDLoss) and mod.backend == 'torch'
    assert "backend='torch'" in repr(mod)
    with pytest.raises(ConfigError, match='unknown backend'):
        DCKDLoss(backend='cuda')
    s, t, y = make()
    assert_close(mod(s, t, y), dckd_loss(s, t, y))


@needs_triton
def test_a_verified_kernel_is_used_and_reads_nothing_back(kernel_on_cpu):
    launch = stand_in()
    kernel_on_cpu.setattr(triton_kernel, 'launch', launch)
    s, t, y = make()
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        first, g1 = grad_of(lambda x: dckd_loss(x, t, y), s)
    assert type(first.grad_fn).__name__ == '_DCKDTritonBackward'
    key = backend.kernel_key(s, t, 'as_good_as_teacher')
    assert backend.verified_keys() == {key: True}
    with SyncCounter() as counter:
        second, g2 = grad_of(lambda x: dckd_loss(x, t, y), s)
    assert counter.calls == []
    assert type(second.grad_fn).__name__ == '_DCKDTritonBackward'
    assert launch.calls == ['as_good_as_teacher'] * 2
    ref, g_ref = grad_of(lambda x: dckd_loss(x, t, y, backend='torch'), s)
    assert_close(second, ref)
    assert_close(g2, g_ref)


@needs_triton
@pytest.mark.parametrize('what,corrupt', [
    ('skd', lambda skd, pkd, gs, gp: (skd * 1.01, pkd, gs, gp)),
    ('pkd', lambda skd, pkd, gs, gp: (skd, pkd + 0.01, gs, gp)),
    ('grad', lambda skd, pkd, gs, gp: (skd, pkd, gs, -gp)),
    ('nan', lambda skd, pkd, gs, gp: (skd, pkd * float('nan'), gs, gp)),
])
def test_a_wrong_kernel_result_ends_on_the_pytorch_path(
        kernel_on_cpu, what, corrupt):
    kernel_on_cpu.setattr(triton_kernel, 'launch', stand_in(corrupt))
    s, t, y = make()
    with pytest.warns(UserWarning, match='disagrees with the PyTorch path'
                      ) as record:
        loss, grad = grad_of(lambda x: dckd_loss(x, t, y), s)
    text = str(record[0].message)
    assert "mask 'as_good_as_teacher'" in text and 'block 32' in text
    assert 'device cpu' in text and 'torch.float32' in text
    if what == 'nan':
        assert 'non-finite output' in text
    else:
        # the corrupted part is named with a difference above tolerance
        worst = text.split(f'{what} ')[1].split('x the tolerance')[0]
        assert float(worst.split('(')[1]) > 1.0, text
    ref, g_ref = grad_of(lambda x: dckd_loss(x, t, y, backend='torch'), s)
    assert_close(loss, ref, rtol=0, atol=0)
    assert_close(grad, g_ref, rtol=0, atol=0)
    key = backend.kernel_key(s, t, 'as_good_as_teacher')
    assert backend.verified_keys() == {key: False}
    # from then on: the PyTorch path, no second warning
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        again = dckd_loss(s.clone().requires_grad_(), t, y)
    assert type(again.grad_fn).__name__ == '_DCKDPartsBackward'
    # asked for explicitly, the kernel is refused, not silently replaced
    with pytest.raises(UnsupportedHostError, match='self-check'):
        dckd_loss(s, t, y, backend='triton')


@needs_triton
def test_triton_raises_on_a_wrong_kernel_at_first_use(kernel_on_cpu):
    kernel_on_cpu.setattr(
        triton_kernel, 'launch',
        stand_in(lambda skd, pkd, gs, gp: (skd * 1.01, pkd, gs, gp)))
    s, t, y = make()
    with pytest.raises(UnsupportedHostError, match='disagrees'):
        dckd_loss(s, t, y, backend='triton')


@needs_triton
def test_the_self_check_is_per_key(kernel_on_cpu):
    """A wrong result for one mask rule leaves the others on the kernel."""

    launch = stand_in()

    def only_none_wrong(preds_S, preds_T, labels, tau, rule_id):
        skd, pkd, gs, gp = launch(preds_S, preds_T, labels, tau, rule_id)
        return (skd * 2, pkd, gs, gp) if rule_id == 2 else (skd, pkd, gs, gp)

    kernel_on_cpu.setattr(triton_kernel, 'launch', only_none_wrong)
    s, t, y = make()
    with pytest.warns(UserWarning, match="mask 'none'"):
        dckd_loss(s, t, y, mask='none')
    dckd_loss(s, t, y)
    state = {k[3]: v for k, v in backend.verified_keys().items()}
    assert state == {'none': False, 'as_good_as_teacher': True}


@needs_triton
def test_a_kernel_that_cannot_be_built_falls_back_once(kernel_on_cpu):
    def broken(*args, **kwargs):
        raise RuntimeError('no compiler for this GPU')

    kernel_on_cpu.setattr(triton_kernel, 'launch', broken)
    s, t, y = make()
    with pytest.raises(UnsupportedHostError, match='no compiler'):
        dckd_loss(s, t, y, backend='triton')
    with pytest.warns(UserWarning, match='no compiler for this GPU'):
        loss = dckd_loss(s, t, y)
    assert_close(loss, dckd_loss(s, t, y, backend='torch'))
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        dckd_loss(s, t, y)


@needs_triton
def test_near_ties_are_left_out_of_the_comparison(kernel_on_cpu):
    """A mask decision within rounding of a tie may flip between the two
    backends: such rows do not count against the kernel."""
    s, t, y = make(n=4, c=30)
    t[0] = s[0]
    t[0, (y[0] + 1) % 30] += 1e-6  # one near-tie in row 0
    terms = torch_terms(s, t, y, 4.0, 'as_good_as_teacher')
    one, zero = torch.ones(()), torch.zeros(())
    outputs = [terms.skd, terms.pkd,
               grad_from_terms(terms.q, y, terms.mdelta, one, zero, 4.0),
               grad_from_terms(terms.q, y, terms.mdelta, zero, one, 4.0)]
    outputs[0] = outputs[0].clone()
    outputs[0][0] += 5.0  # as if the near-tie had been decided otherwise
    report = backend.kernel_report(s, t, y, 4.0, 'as_good_as_teacher',
                                   tuple(outputs))
    assert report['ok'] and report['ambiguous'] == 1 and report['rows'] == 3
    outputs[0][1] += 5.0  # ... but not a clear row
    report = backend.kernel_report(s, t, y, 4.0, 'as_good_as_teacher',
                                   tuple(outputs))
    assert not report['ok'] and report['skd']['worst_row'] == 1


@pytest.mark.parametrize('kwargs,match', [
    (dict(tau=0), 'tau must be'),
    (dict(tau=float('nan')), 'tau must be'),
    (dict(tau=True), 'tau must be'),
    (dict(alpha=-1.0), 'alpha must be'),
    (dict(beta=float('inf')), 'beta must be'),
    (dict(loss_weight=-0.5), 'loss_weight must be'),
    (dict(alpha='1'), 'alpha must be'),
    (dict(warmup_epochs=1.5), 'warmup_epochs must be'),
    (dict(warmup_epochs=-1), 'warmup_epochs must be'),
    (dict(mask='teacher'), 'unknown mask rule'),
    (dict(parts='tckd'), 'unknown parts'),
    (dict(reduction='mean'), 'unknown reduction'),
    (dict(backend='cuda'), 'unknown backend'),
])
def test_check_dckd_options(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        check_dckd_options(**kwargs)
    name, value = next(iter(kwargs.items()))
    with pytest.raises(ConfigError) as err:
        check_dckd_options(where='model.loss', **kwargs)
    assert str(err.value).startswith(f'model.loss.{name} = {value!r}: ')
    assert isinstance(err.value, ValueError)


def test_check_dckd_options_accepts_the_defaults_and_edges():
    check_dckd_options()
    check_dckd_options(tau=0.5, alpha=0, beta=0, loss_weight=0,
                       warmup_epochs=3, mask='none', parts='pkd',
                       reduction='none', backend='torch')


def test_the_function_rejects_what_the_module_rejects():
    s, t, y = make()
    for bad in (dict(alpha=-1.0), dict(beta=-0.5), dict(beta=float('nan')),
                dict(backend='gpu')):
        with pytest.raises(ConfigError):
            dckd_loss(s, t, y, **bad)
        with pytest.raises(ConfigError):
            DCKDLoss(**bad)
