# Copyright (c) dckd_mm contributors. All rights reserved.
"""The mixing configs: mmrazor's FitNets, AT, OFD and RKD losses, each
alone, + KD and + DCKD, on resnet32x4 -> resnet8x4 (configs/mixing/) and
resnet20 -> resnet8 on digits100 (configs/demo/). Each config trains one
CPU iteration in tests/test_configs.py (CIFAR-100) and
tests/benchmark/test_demo_configs.py (digits100); here: the set is
complete, only mmrazor's registered components are used, every loss key
of a config is returned finite on a batch, and a variant is exactly the
method alone plus its logit term, computed independently on the same
batch."""
import copy
import functools
import glob
import os.path as osp
from typing import Dict, Tuple

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmpretrain.structures import DataSample

import dckd_mm  # noqa: F401
from dckd_mm.models.losses import dckd_loss
from tests.helpers import build_model, save_teacher_ckpt

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
METHODS = ('fitnets', 'at', 'ofd', 'rkd')
VARIANTS = ('', '_kd', '_dckd')
# pair -> (folder, file stem, input size)
PAIRS = {
    'cifar100': ('mixing', 'resnet32x4_resnet8x4_1xb64_cifar100', 32),
    'digits100': ('demo', 'resnet20_resnet8_1xb64_digits100', 16),
}


def _path(method: str, variant: str, pair: str) -> str:
    folder, stem, _ = PAIRS[pair]
    return osp.join(ROOT, 'configs', folder, f'{method}{variant}_{stem}.py')


@functools.lru_cache(maxsize=None)
def _cfg(path: str) -> Config:
    """A parsed config (parsing takes seconds on a loaded machine; callers
    must not change the result)."""
    return Config.fromfile(path)


ALL = [(m, v, p) for p in PAIRS for m in METHODS for v in VARIANTS]


def test_every_method_has_three_variants_on_both_pairs() -> None:
    mixing = {osp.basename(p) for p in glob.glob(
        osp.join(ROOT, 'configs', 'mixing', '*.py'))}
    assert mixing == {osp.basename(_path(m, v, 'cifar100'))
                      for m in METHODS for v in VARIANTS}
    for m, v, p in ALL:
        assert osp.isfile(_path(m, v, p)), _path(m, v, p)


@pytest.mark.parametrize('method', METHODS)
@pytest.mark.parametrize('pair', sorted(PAIRS))
def test_variants_add_exactly_their_logit_term(method: str,
                                               pair: str) -> None:
    alone, kd, dckd = (_cfg(_path(method, v, pair)).model
                       for v in VARIANTS)
    terms = dict(alone.distiller.distill_losses)
    assert 'loss_kd' not in terms and 'loss_dckd' not in terms
    assert alone.architecture.head.loss.loss_weight == 1.0
    assert dict(kd.distiller.distill_losses) == dict(
        terms, loss_kd=dict(type='KLDivergence', tau=4, loss_weight=0.9))
    assert kd.architecture.head.loss.loss_weight == 0.1
    assert dict(dckd.distiller.distill_losses) == dict(
        terms,
        loss_dckd=dict(type='DCKDLoss', tau=4.0, alpha=1.0, beta=0.5))
    assert dckd.architecture.head.loss.loss_weight == 1.0
    for variant in (kd, dckd):
        for key in ('student_recorders', 'teacher_recorders',
                    'connectors'):
            assert variant.distiller.get(key) == alone.distiller.get(key)
        for key, mapping in alone.distiller.loss_forward_mappings.items():
            assert variant.distiller.loss_forward_mappings[key] == mapping


@pytest.mark.parametrize('config', sorted({_path(*c) for c in ALL}),
                         ids=lambda p: osp.relpath(p, ROOT))
def test_only_mmrazor_components(config: str) -> None:
    """Every loss and connector is the host's registered class (DCKDLoss is
    dckd_mm's); nothing is a local copy."""
    from mmrazor.registry import MODELS
    distiller = _cfg(config).model.distiller
    types = [c.type for c in distiller.distill_losses.values()]
    types += [c.type for c in (distiller.get('connectors') or {}).values()]
    for name in types:
        cls = MODELS.get(name)
        assert cls is not None, name
        owner = 'dckd_mm' if name == 'DCKDLoss' else 'mmrazor'
        assert cls.__module__.split('.')[0] == owner, (name, cls.__module__)


@pytest.fixture(scope='module')
def teachers(tmp_path_factory) -> Dict[str, str]:
    """A random-weight teacher checkpoint per pair."""
    root = tmp_path_factory.mktemp('teachers')
    paths = {}
    for pair in PAIRS:
        cfg = _cfg(_path('fitnets', '', pair))
        paths[pair] = str(root / f'{pair}.pth')
        save_teacher_ckpt(cfg.model.teacher.to_dict(), paths[pair])
    return paths


def _build(method: str, variant: str, pair: str,
           ckpt: str) -> torch.nn.Module:
    model_cfg = copy.deepcopy(_cfg(_path(method, variant, pair)).model)
    model_cfg.teacher_ckpt = ckpt
    model = build_model(model_cfg.to_dict(), 'mmrazor')
    model.train()
    return model


def _batch(pair: str, n: int = 4) -> Tuple[torch.Tensor, list]:
    size = PAIRS[pair][2]
    gen = torch.Generator().manual_seed(3)
    inputs = torch.randn(n, 3, size, size, generator=gen)
    labels = torch.randint(0, 100, (n, ), generator=gen)
    samples = [DataSample().set_gt_label(int(y)) for y in labels]
    return inputs, samples


@pytest.mark.parametrize('method,variant,pair', ALL,
                         ids=['-'.join((m, v.strip('_') or 'alone', p))
                              for m, v, p in ALL])
def test_every_loss_key_is_returned_finite(method: str, variant: str,
                                           pair: str,
                                           teachers: Dict[str, str]) -> None:
    cfg = _cfg(_path(method, variant, pair))
    model = _build(method, variant, pair, teachers[pair])
    losses = model.loss(*_batch(pair))
    expected = {f'distill.{k}' for k in cfg.model.distiller.distill_losses}
    assert set(losses) == expected | {'student.loss'}
    for key, value in losses.items():
        assert torch.isfinite(value).all(), key
        assert value.requires_grad, key


@pytest.mark.parametrize('method', METHODS)
@pytest.mark.parametrize('pair', sorted(PAIRS))
def test_variant_is_alone_plus_its_logit_term(method: str, pair: str,
                                              teachers: Dict[str,
                                                             str]) -> None:
    """Same weights, same batch: every loss of X alone comes back unchanged
    in X + DCKD, which adds DCKD of the student's and the teacher's logits
    (dckd_loss on the logits of separate forward passes); X + KD adds 0.9 x
    tau^2 x KL at tau 4 and scales the cross-entropy by 0.1."""
    torch.manual_seed(0)
    alone = _build(method, '', pair, teachers[pair])
    inputs, samples = _batch(pair)
    labels = torch.tensor([int(s.gt_label) for s in samples])
    state = {k: v.clone() for k, v in alone.state_dict().items()}
    ref = {k: v.detach() for k, v in alone.loss(inputs, samples).items()}

    alone.load_state_dict(state)
    with torch.no_grad():
        logits_s = alone.architecture(inputs, mode='tensor')
        logits_t = alone.teacher(inputs, mode='tensor')
    dckd_term = dckd_loss(logits_s, logits_t, labels, tau=4.0, alpha=1.0,
                          beta=0.5)
    kl = F.kl_div(F.log_softmax(logits_s / 4, 1), F.softmax(logits_t / 4, 1),
                  reduction='batchmean') * 16
    assert dckd_term > 0 and kl > 0

    for variant in ('_dckd', '_kd'):
        model = _build(method, variant, pair, teachers[pair])
        model.load_state_dict(state)
        got = {k: v.detach() for k, v in model.loss(inputs, samples).items()}
        for key, value in ref.items():
            want = value * 0.1 if (variant == '_kd'
                                   and key == 'student.loss') else value
            torch.testing.assert_close(got[key], want, rtol=1e-5, atol=1e-6)
        if variant == '_dckd':
            extra, want = got['distill.loss_dckd'], dckd_term
        else:
            extra, want = got['distill.loss_kd'], 0.9 * kl
        torch.testing.assert_close(extra, want, rtol=1e-5, atol=1e-6)
        assert set(got) == set(ref) | {f'distill.loss{variant}'}
