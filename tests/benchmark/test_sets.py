# Copyright (c) dckd_mm contributors. All rights reserved.
"""The comparison sets and the paper's claims as data
(configs/demo/config_sets.yml, dckd_mm.benchmark.sets)."""
import os.path as osp

import pytest
import yaml
from mmengine.config import Config

from dckd_mm.benchmark import load_config_sets
from dckd_mm.errors import ConfigError, MissingFileError

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SETS = osp.join(ROOT, 'configs', 'demo', 'config_sets.yml')
CLAIM_IDS = ('alone', 'kd', 'dkd', 'simkd', 'simkd_kd', 'simkd_skd',
             'simkd_pkd', 'simkd_dckd', 'mask_student_ge_teacher',
             'mask_none', 'mask_student_correct', 'beta_1', 'beta_0.25')
PAPER_CLAIMS = ('kd_on_features_hurts', 'pkd_alone_hurts',
                'skd_and_pkd_beat_each', 'beta_half_best', 'dckd_ge_simkd',
                'dckd_ge_simkd_kd')


def _get(cfg, dotted):
    node = cfg
    for part in dotted.split('.'):
        assert part in node, f'{dotted}: no {part!r}'
        node = node[part]
    return node


@pytest.fixture
def sets(monkeypatch):
    monkeypatch.chdir(ROOT)
    return load_config_sets(SETS)


def test_sets_name_real_configs_and_real_options(sets):
    assert set(sets) == {'digits', 'digits100', 'digits-claims',
                         'digits100-claims', 'digits100-mixing', 'cifar100'}
    for name, spec in sets.items():
        assert spec['baseline'] == ('fitnets' if name == 'digits100-mixing'
                                    else 'kd')
        assert osp.isfile(spec['teacher'])
        for m in spec['methods']:
            # relative to the sets file's folder, given relative to the cwd
            assert m['config'].startswith('configs' + osp.sep), m['config']
            cfg = Config.fromfile(m['config'])
            for key, value in m['options'].items():
                old = _get(cfg, key)  # every override names a real key
                assert type(old) is type(value), (name, key, old, value)
                assert old != value, (name, key)  # and changes something
    for name in ('digits-claims', 'digits100-claims'):
        assert tuple(m['id'] for m in sets[name]['methods']) == CLAIM_IDS
        assert tuple(c['id'] for c in sets[name]['claims']) == PAPER_CLAIMS
        options = {m['id']: m['options'] for m in sets[name]['methods']}
        loss = 'model.distiller.distill_losses.loss_dckd.'
        assert options['mask_none'] == {loss + 'mask': 'none'}
        assert options['beta_0.25'] == {loss + 'beta': 0.25}
        assert options['simkd_dckd'] == {}
    assert sets['cifar100']['teacher'] == osp.join(
        'configs', 'zoo', 'resnet32x4_1xb64_cifar100.py')
    # the demo tests the paper's target only
    target, = sets['digits']['claims']
    assert (target['better'], target['worse']) == ('simkd_dckd', ['simkd'])
    # the default row really runs the revised rule
    cfg = Config.fromfile(sets['digits100']['methods'][-1]['config'])
    assert cfg.model.distiller.distill_losses.loss_dckd.mask == \
        'as_good_as_teacher'


def test_mixing_claims_compare_each_method_with_its_own_variants(sets):
    spec = sets['digits100-mixing']
    methods = ('fitnets', 'at', 'ofd', 'rkd')
    assert [m['id'] for m in spec['methods']] == [
        m + v for m in methods for v in ('', '_kd', '_dckd')]
    assert [(c['better'], c['worse']) for c in spec['claims']] == [
        (m + '_dckd', [m, m + '_kd']) for m in methods]


def test_claims_are_the_papers(sets):
    claims = {c['id']: c for c in sets['digits-claims']['claims']}
    assert claims['beta_half_best']['worse'] == ['beta_1', 'beta_0.25']
    assert claims['skd_and_pkd_beat_each']['better'] == 'simkd_dckd'
    assert claims['kd_on_features_hurts']['text'] == \
        'plain KD on top of the feature loss hurts'
    assert claims['kd_on_features_hurts']['paper'] == \
        '-1.91 (resnet32x4 -> resnet8x4)'


def _write(tmp_path, sets, claims=None):
    (tmp_path / 'a.py').write_text('x = 1\n')
    path = tmp_path / 'sets.yml'
    path.write_text(yaml.safe_dump(dict(claims=claims or {}, sets=sets)))
    return str(path)


def _method(id_='a', name=None, config='a.py'):
    return dict(id=id_, name=name or id_, config=config)


def _one(**kw):
    spec = dict(teacher='a.py', baseline='a', methods=[_method()])
    spec.update(kw)
    return {'x': spec}


def test_paths_are_relative_to_the_sets_file(tmp_path, monkeypatch):
    path = _write(tmp_path, _one())
    monkeypatch.chdir(tmp_path.parent)
    spec = load_config_sets(path)['x']
    assert spec['teacher'] == osp.join(tmp_path.name, 'a.py')
    assert spec['methods'][0]['options'] == {}
    assert spec['claims'] == []


CLAIM = dict(text='t', paper='p', better='a', worse=['b'])


@pytest.mark.parametrize('sets, claims, error, match', [
    (_one(teacher='nope.py'), None, MissingFileError, 'does not exist'),
    (_one(methods=[_method(config='nope.py')]), None, MissingFileError,
     'nope.py, which does not exist'),
    ({'x': dict(teacher='a.py', baseline='a')}, None, ConfigError,
     'non-empty "methods"'),
    (_one(methods=['not a mapping']), None, ConfigError,
     'without id, name or config'),
    (_one(methods=[dict(name='a', config='a.py')]), None, ConfigError,
     'without id'),
    (_one(methods=[_method(), _method(name='b')]), None, ConfigError,
     r"repeats the method id\(s\) \['a'\]"),
    (_one(methods=[_method(), _method('b', name='a')]), None, ConfigError,
     r"repeats the method name\(s\) \['a'\]"),
    (_one(methods=[_method('a/b')]), None, ConfigError, 'may only hold'),
    (_one(baseline='KD'), None, ConfigError, '"baseline" must be one of'),
    (_one(claims=['c']), None, ConfigError, "unknown claim 'c'"),
    (_one(claims=['c']), {'c': CLAIM}, ConfigError,
     r"claim 'c' but has no method with the id\(s\) \['b'\]"),
    (_one(), {'c': dict(CLAIM, worse=[])}, ConfigError, 'non-empty list'),
    ({}, None, ConfigError, 'non-empty "sets"'),
])
def test_bad_sets_are_refused(tmp_path, sets, claims, error, match):
    with pytest.raises(error, match=match):
        load_config_sets(_write(tmp_path, sets, claims))


def test_bad_sets_file(tmp_path):
    with pytest.raises(MissingFileError, match='does not exist'):
        load_config_sets(str(tmp_path / 'none.yml'))
    bad = tmp_path / 'bad.yml'
    bad.write_text('sets: [unclosed\n')
    with pytest.raises(ConfigError, match='not valid YAML'):
        load_config_sets(str(bad))
