# Copyright (c) dckd_mm contributors. All rights reserved.
"""The checkpoint readers (dckd_mm.utils.checkpoint): one state-dict
extractor for every format, strict loading through the safe loader."""
from collections import OrderedDict

import pytest
import torch
from torch import nn

import dckd_mm  # noqa: F401
from dckd_mm.compat import UntrustedCheckpointError, safe_loading
from dckd_mm.utils.checkpoint import extract_state_dict, load_model_strict


def test_extract_state_dict_every_format():
    w, b = torch.ones(2, 3), torch.zeros(2)
    bare = OrderedDict([('fc.weight', w), ('fc.bias', b)])
    wrapped = OrderedDict(('module.' + k, v) for k, v in bare.items())
    for ckpt in (bare, wrapped, {'state_dict': bare, 'meta': {}},
                 {'model': wrapped, 'epoch': 240, 'best_acc': 75.0},
                 {'net': bare, 'acc': 90.0}):
        out = extract_state_dict(ckpt)
        assert list(out) == ['fc.weight', 'fc.bias']
        assert out['fc.weight'] is w and out['fc.bias'] is b
    # mmengine's key wins over RepDistiller's when both are there
    assert list(extract_state_dict({'model': {'x': w},
                                    'state_dict': {'y': w}})) == ['y']


@pytest.mark.parametrize('ckpt', [
    {}, {'model': {}}, {'epoch': 3, 'best_acc': 70.0},
    {'state_dict': {'w': 1.0}}, [torch.ones(1)], torch.ones(1)
], ids=['empty', 'empty-model', 'no-state', 'not-tensors', 'list', 'tensor'])
def test_extract_state_dict_refuses_what_holds_none(ckpt):
    with pytest.raises(ValueError, match='holds no state dict of tensors'):
        extract_state_dict(ckpt)


def _net(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))


def _same(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(
        torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture
def safe_loads(monkeypatch):
    """Paths read by ``safe_load`` (mmengine's local scheme calls it)."""
    seen = []
    real = safe_loading.safe_load

    def spy(path, *args, **kwargs):
        seen.append(path)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(safe_loading, 'safe_load', spy)
    return seen


def test_load_model_strict_reads_every_format_through_safe_load(
        tmp_path, safe_loads, monkeypatch):
    src = _net(1)
    src[1].running_mean.fill_(0.5)
    state = src.state_dict()
    module = OrderedDict(('module.' + k, v) for k, v in state.items())
    files = {
        'mmengine.pth': {'state_dict': state, 'meta': {'epoch': 3}},
        # RepDistiller's *_best.pth: 'model', DataParallel keys
        'repdistiller.pth': {'epoch': 240, 'model': module,
                             'best_acc': 75.0,
                             'optimizer': {'state': {}, 'param_groups': []}},
        'bare.pth': module,
    }
    for name, ckpt in files.items():
        torch.save(ckpt, tmp_path / name)
        model = _net(0)
        assert not _same(model, src)
        load_model_strict(model, str(tmp_path / name))
        assert _same(model, src), name
    assert safe_loads == [str(tmp_path / n) for n in files]
    # relative and ~ paths are the same files
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv('HOME', str(tmp_path))
    for path in ('bare.pth', '~/bare.pth'):
        model = _net(0)
        load_model_strict(model, path)
        assert _same(model, src)


def test_load_model_strict_missing_file(tmp_path):
    path = str(tmp_path / 'none.pth')
    with pytest.raises(FileNotFoundError) as err:
        load_model_strict(_net(0), path)
    msg = str(err.value)
    assert msg.startswith(f"teacher checkpoint {path!r} (config key "
                          "'teacher_ckpt') does not exist.")
    assert 'configs/zoo/' in msg and 'convert_repdistiller_ckpt.py' in msg
    assert 'model.teacher_ckpt=PATH' in msg
    with pytest.raises(FileNotFoundError,
                       match=r"^student checkpoint .* \(config key 'init'\)"
                       r'.*model\.init=PATH'):
        load_model_strict(_net(0), path, what='student', config_key='init')


def test_load_model_strict_mismatch_is_ours_and_loads_nothing(tmp_path):
    model = _net(0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    state = _net(1).state_dict()
    del state['1.running_var']
    state['0.weight'] = torch.zeros(5, 4)
    state['extra.weight'] = torch.zeros(1)
    torch.save({'state_dict': state}, tmp_path / 'bad.pth')
    with pytest.raises(ValueError) as err:
        load_model_strict(model, str(tmp_path / 'bad.pth'))
    msg = str(err.value)
    assert 'does not fit the teacher model in the config: ' in msg
    assert "1 missing key(s), e.g. ['1.running_var']" in msg
    assert "1 unexpected key(s), e.g. ['extra.weight']" in msg
    assert "1 shape mismatch(es), e.g. ['0.weight: (5, 4) vs model (3, 4)']" \
        in msg
    assert 'convert_repdistiller_ckpt.py' in msg
    assert all(torch.equal(v, before[k])
               for k, v in model.state_dict().items())


def test_load_model_strict_refuses_nan_and_inf(tmp_path):
    model = _net(0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    state = _net(1).state_dict()
    state['0.weight'][0, 0] = float('nan')
    state['1.bias'][1] = float('inf')
    torch.save({'state_dict': state}, tmp_path / 'nan.pth')
    with pytest.raises(ValueError,
                       match=r'holds NaN or Inf values in 2 tensor\(s\), '
                       r"e.g. \['0.weight', '1.bias'\]"):
        load_model_strict(model, str(tmp_path / 'nan.pth'))
    assert all(torch.equal(v, before[k])
               for k, v in model.state_dict().items())


def test_load_model_strict_refuses_untrusted_pickle(tmp_path, safe_loads):
    import builtins

    class Evil:

        def __reduce__(self):
            return (builtins.open, (str(tmp_path / 'pwned'), 'w'))

    torch.save({'state_dict': _net(1).state_dict(), 'x': Evil()},
               tmp_path / 'evil.pth')
    with pytest.raises(UntrustedCheckpointError, match='untrusted'):
        load_model_strict(_net(0), str(tmp_path / 'evil.pth'))
    assert not (tmp_path / 'pwned').exists()
    assert safe_loads == [str(tmp_path / 'evil.pth')]


# -- a real full disk, a real file-size limit, real unwritable names --
