# Copyright (c) dckd_mm contributors. All rights reserved.
"""The comparison sets (tools/analysis_tools/config_sets.yml), the claims
table, the quiet run output and the progress lines of compare / demo."""
import io
import os.path as osp

import pytest
import yaml
from mmengine.config import Config

import dckd_mm  # noqa: F401
from lib.compare import (CLAIMS, Progress, _run_output, claims_table,
                         load_config_sets, run_comparison)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SETS = osp.join(ROOT, 'tools', 'analysis_tools', 'config_sets.yml')
CLAIM_IDS = ('alone', 'kd', 'dkd', 'simkd', 'simkd_kd', 'simkd_skd',
             'simkd_pkd', 'simkd_dckd', 'mask_student_ge_teacher',
             'mask_none', 'mask_student_correct', 'beta_1', 'beta_0.25')


def _get(cfg, dotted):
    node = cfg
    for part in dotted.split('.'):
        assert part in node, f'{dotted}: no {part!r}'
        node = node[part]
    return node


@pytest.fixture
def sets(monkeypatch):
    monkeypatch.chdir(ROOT)  # the sets' paths are relative to the root
    return load_config_sets(SETS)


def test_sets_name_real_configs_and_real_options(sets):
    assert {'digits', 'digits100', 'digits-claims', 'digits100-claims',
            'cifar100'} <= set(sets)
    for name, spec in sets.items():
        for m in spec['methods']:
            cfg = Config.fromfile(osp.join(ROOT, m['config']))
            for key, value in m['options'].items():
                old = _get(cfg, key)  # every override names a real key
                assert type(old) is type(value), (name, key, old, value)
                assert old != value, (name, key)  # and changes something
    for name in ('digits-claims', 'digits100-claims'):
        ids = [m['id'] for m in sets[name]['methods']]
        assert tuple(ids) == CLAIM_IDS
        options = {m['id']: m['options'] for m in sets[name]['methods']}
        loss = 'model.distiller.distill_losses.loss_dckd.'
        assert options['mask_none'] == {loss + 'mask': 'none'}
        assert options['beta_0.25'] == {loss + 'beta': 0.25}
        assert options['simkd_dckd'] == {}
    # the default row really runs the revised rule
    cfg = Config.fromfile(
        osp.join(ROOT, sets['digits100']['methods'][-1]['config']))
    assert cfg.model.distiller.distill_losses.loss_dckd.mask == \
        'as_good_as_teacher'


def test_bad_sets_are_refused(tmp_path):
    bad = tmp_path / 'sets.yml'
    bad.write_text(yaml.safe_dump({'x': {'teacher': 'nope.py',
                                         'methods': [{'name': 'a',
                                                      'config': 'nope.py'}]}}))
    with pytest.raises(ValueError, match='does not exist'):
        load_config_sets(str(bad))
    bad.write_text(yaml.safe_dump({'x': {'teacher': 'a.py'}}))
    with pytest.raises(ValueError, match='non-empty methods'):
        load_config_sets(str(bad))
    bad.write_text(yaml.safe_dump({'x': {'teacher': 'a.py',
                                         'methods': ['not a mapping']}}))
    with pytest.raises(ValueError, match='without name or config'):
        load_config_sets(str(bad))


def _row(id_, mean, std=1.0, seeds=5):
    return dict(id=id_, method=id_, top1_mean=mean, top1_std=std,
                seeds=seeds)


def test_claims_table_verdicts():
    rows = [_row('simkd', 90.0), _row('simkd_kd', 88.0),
            _row('simkd_pkd', 90.5), _row('simkd_skd', 89.0),
            _row('simkd_dckd', 91.0), _row('beta_1', 91.2, std=0.1),
            _row('beta_0.25', 80.0)]
    table = claims_table(dict(methods=rows))
    lines = {line.split(' | ')[0][2:]: line for line in table.splitlines()}
    # KD hurts: 90 - 88 = +2.00, s.e. sqrt(2/5) = 0.63 -> clear
    kd = lines['plain KD on top of the feature loss hurts']
    assert '+2.00 (+- 0.63)' in kd and kd.endswith('| holds here |')
    # PKD alone: 90 - 90.5 < 0 -> does not hold, within noise
    assert lines['PKD alone on top of the feature loss hurts'].endswith(
        'does not hold here (within noise) |')
    # both beat each alone
    assert lines['SKD and PKD together beat either one alone'].endswith(
        'holds here (within noise) |')
    # 0.5 loses to 1 by 0.2: does not hold
    assert 'does not hold' in lines['weight 0.5 beats 1 and 0.25']
    assert lines['target: SimKD + DCKD >= SimKD'].endswith(
        'holds here (within noise) |')
    assert len(lines) == 2 + len(CLAIMS)
    # a set without the ablation rows has no claims table
    assert claims_table(dict(methods=[_row('kd', 1.0)])) is None


def test_progress_lines_without_a_terminal():
    out = io.StringIO()
    p = Progress(3, out)
    p.begin('teacher')
    p.epoch(1, 2)  # not a terminal: no redraw
    p.end('top-1 90.00')
    p.begin('KD (seed 0)')
    p.end('top-1 80.00')
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith('[1/3] teacher  top-1 90.00')
    assert lines[1].startswith('[2/3] KD (seed 0)  top-1 80.00')
    assert 'ETA' in lines[1]


def test_run_output_goes_to_the_run_folder(tmp_path, capsys):
    with _run_output(str(tmp_path)):
        print('Config: a very long dump')
    assert capsys.readouterr().out == ''
    assert 'Config: a very long dump' in (tmp_path / 'console.log').read_text()


def test_comparison_end_to_end_is_quiet(tmp_path, capsys, monkeypatch):
    """Teacher + two students, one tiny epoch each: one progress line per
    run on stdout, mmengine's logs in the run folders."""
    monkeypatch.chdir(ROOT)
    opts = {'train_cfg.max_epochs': 1,
            'train_dataloader.dataset.indices': 64,
            'val_dataloader.dataset.indices': 40,
            'param_scheduler.milestones': [1, 2]}
    methods = [m for m in load_config_sets(SETS)['digits100']['methods']
               if m['id'] in ('kd', 'simkd_dckd')]
    out = io.StringIO()
    res = run_comparison('configs/demo/resnet20_1xb64_digits100.py',
                         methods, str(tmp_path), (0, ), opts, stream=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 3, lines
    assert lines[0].startswith('[1/3] teacher')
    assert lines[2].startswith('[3/3] SimKD + DCKD (seed 0)  top-1 ')
    assert capsys.readouterr().out == ''
    logs = (tmp_path / 'simkd___dckd' / 'seed0' / 'console.log').read_text()
    assert 'Config:' in logs and 'Epoch(train)' in logs
    assert [r['method'] for r in res['methods']] == ['KD', 'SimKD + DCKD']
    assert all(0.0 <= r['top1_mean'] <= 100.0 for r in res['methods'])
