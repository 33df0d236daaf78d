# Copyright (c) dckd_mm contributors. All rights reserved.
"""Verdicts on the paper's claims (dckd_mm.benchmark.claims), checked
against differences and standard errors worked out by hand."""
import math
import os.path as osp

import pytest

from dckd_mm.benchmark import (NO_VERDICT, claims_table, difference,
                               load_config_sets, summarize, verdict)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SETS = osp.join(ROOT, 'configs', 'demo', 'config_sets.yml')
TARGET = dict(id='dckd_ge_simkd', text='target: SimKD + DCKD >= SimKD',
              paper='+ over SimKD', better='simkd_dckd', worse=['simkd'])


def _row(id_, mean, std=1.0, seeds=5):
    return dict(id=id_, method=id_, top1_mean=mean, top1_std=std,
                seeds=seeds)


def test_difference_and_its_standard_error():
    # 91 - 90 = 1; s.e. sqrt(1/5 + 1/5) = sqrt(0.4) = 0.63246
    d, se = difference(_row('a', 91.0), _row('b', 90.0))
    assert d == pytest.approx(1.0)
    assert se == pytest.approx(0.632456, abs=1e-6)
    # unequal seeds and spreads: sqrt(0.5**2 / 5 + 1.5**2 / 3) = 0.88882
    _, se = difference(_row('a', 1.0, 0.5, 5), _row('b', 0.0, 1.5, 3))
    assert se == pytest.approx(math.sqrt(0.05 + 0.75), abs=1e-12)
    # one seed on either side: no standard error at all, not 0
    d, se = difference(_row('a', 98.33, None, 1), _row('b', 98.06))
    assert d == pytest.approx(0.27) and se is None
    assert difference(_row('a', 1.0), _row('b', 0.0, None, 1))[1] is None


@pytest.mark.parametrize('diffs, expected', [
    ([(2.0, 0.632)], 'holds here'),  # 2.0 >= 2 x 0.632
    ([(1.0, 0.632)], 'holds here (within noise)'),  # 1.0 < 1.264
    ([(1.0, 0.5)], 'holds here'),  # exactly 2 s.e. is outside noise
    ([(0.0, 0.3)], 'holds here (within noise)'),  # a tie holds
    ([(-2.0, 0.632)], 'does not hold here'),
    ([(-0.5, 0.632)], 'does not hold here (within noise)'),
    ([(2.0, 0.5), (-0.1, 0.5)], 'does not hold here (within noise)'),
    # one clear failure decides, whatever the noise of the other comparison
    ([(0.05, 0.32), (-0.91, 0.26)], 'does not hold here'),
    ([(-0.2, 0.5), (-1.5, 0.3)], 'does not hold here'),
    ([(2.0, 0.5), (-1.2, 0.5)], 'does not hold here'),
    ([(0.27, None)], NO_VERDICT),
    ([(2.0, 0.5), (5.0, None)], NO_VERDICT),
])
def test_verdict(diffs, expected):
    assert verdict(diffs) == expected


def test_verdict_needs_a_comparison():
    with pytest.raises(ValueError):
        verdict([])


def _runs(accs):
    return [dict(top1=a, wall_s=1.0, step_s=0.1, images_per_s=640.0,
                 peak_mem_mb=1.0, dckd_share=None) for a in accs]


METHODS = [dict(id='simkd', name='SimKD', config='s.py'),
           dict(id='simkd_dckd', name='SimKD + DCKD', config='d.py')]


def _result(simkd, dckd):
    rows = summarize(METHODS, {'simkd': _runs(simkd),
                               'simkd_dckd': _runs(dckd)}, 'simkd')
    return dict(methods=rows, claims=[TARGET])


def test_one_seed_gives_no_verdict():
    """Issue 24's run: SimKD 97.50, SimKD + DCKD 96.67 at one seed."""
    table = claims_table(_result([97.50], [96.67]))
    row = table.splitlines()[-1]
    assert 'SimKD + DCKD - SimKD = -0.83 (1 seed, no s.e.)' in row
    assert row.endswith(f'| {NO_VERDICT} |')
    assert '+- 0.00' not in table and 'hold' not in row


def test_three_seeds_within_noise():
    # SimKD 97.50, 98.06, 97.78: mean 97.78, std 0.28
    # DCKD 96.67, 98.33, 98.06: mean 97.6867, std 0.8907
    # difference -0.0933, s.e. sqrt(0.28**2/3 + 0.8907**2/3) = 0.5391
    res = _result([97.50, 98.06, 97.78], [96.67, 98.33, 98.06])
    simkd, dckd = res['methods']
    assert simkd['top1_std'] == pytest.approx(0.28, abs=1e-9)
    assert dckd['top1_std'] == pytest.approx(0.890749, abs=1e-6)
    row = claims_table(res).splitlines()[-1]
    assert 'SimKD + DCKD - SimKD = -0.09 (+- 0.54)' in row
    assert row.endswith('| does not hold here (within noise) |')


def test_three_seeds_clear():
    # means 97.2 and 98.2 (std 0.2 each): +1.00, s.e. sqrt(0.08 / 3) = 0.16
    row = claims_table(_result([97.0, 97.2, 97.4],
                               [98.0, 98.2, 98.4])).splitlines()[-1]
    assert 'SimKD + DCKD - SimKD = +1.00 (+- 0.16)' in row
    assert row.endswith('| holds here |')


def test_claims_table_of_the_papers_claims():
    claims = load_config_sets(SETS)['digits-claims']['claims']
    rows = [_row('simkd', 90.0), _row('simkd_kd', 88.0),
            _row('simkd_pkd', 90.5), _row('simkd_skd', 89.0),
            _row('simkd_dckd', 91.0), _row('beta_1', 91.2, std=0.1),
            _row('beta_0.25', 80.0)]
    table = claims_table(dict(methods=rows, claims=claims))
    lines = {line.split(' | ')[0][2:]: line for line in table.splitlines()}
    assert len(lines) == 2 + len(claims) == 8
    # KD hurts: 90 - 88 = +2.00, s.e. sqrt(2/5) = 0.63 -> clear
    kd = lines['plain KD on top of the feature loss hurts']
    assert '+2.00 (+- 0.63)' in kd and kd.endswith('| holds here |')
    # PKD alone: 90 - 90.5 < 0 -> does not hold, within noise
    assert lines['PKD alone on top of the feature loss hurts'].endswith(
        'does not hold here (within noise) |')
    # 91 - 89 = +2.00 (clear), 91 - 90.5 = +0.50 (noise)
    assert lines['SKD and PKD together beat either one alone'].endswith(
        'holds here (within noise) |')
    # 0.5 loses to 1 by 0.2, s.e. sqrt(1/5 + 0.01/5) = 0.45
    beta = lines['weight 0.5 beats 1 and 0.25']
    assert '= -0.20 (+- 0.45)' in beta and '= +11.00 (+- 0.63)' in beta
    assert beta.endswith('| does not hold here (within noise) |')
    assert lines['target: SimKD + DCKD >= SimKD'].endswith(
        'holds here (within noise) |')
    # a set that tests no claim has no claims table
    assert claims_table(dict(methods=rows, claims=[])) is None
