# Copyright (c) dckd_mm contributors. All rights reserved.
"""The tables, JSON and chart of a comparison (dckd_mm.benchmark.report)."""
import json

from dckd_mm.benchmark import NO_VERDICT, format_table, save_results, summarize

METHODS = [dict(id='kd', name='KD', config='k.py'),
           dict(id='simkd', name='SimKD', config='s.py'),
           dict(id='simkd_dckd', name='SimKD + DCKD', config='d.py')]
TARGET = dict(id='dckd_ge_simkd', text='target: SimKD + DCKD >= SimKD',
              paper='+ over SimKD', better='simkd_dckd', worse=['simkd'])


def _runs(accs, step, share=None):
    return [dict(top1=a, wall_s=10.0 + i, step_s=step + 0.01 * i,
                 images_per_s=64 / (step + 0.01 * i), peak_mem_mb=42.5,
                 dckd_share=share if i == 0 else None)
            for i, a in enumerate(accs)]


def _result(accs):
    runs = {'kd': _runs(accs['kd'], 0.08),
            'simkd': _runs(accs['simkd'], 0.09),
            'simkd_dckd': _runs(accs['simkd_dckd'], 0.10, 0.011)}
    return dict(teacher=dict(config='t.py', top1=99.44), baseline='kd',
                methods=summarize(METHODS, runs, 'kd'), claims=[TARGET])


def test_one_seed_shows_no_spread_and_no_verdict():
    text = format_table(_result(
        dict(kd=[87.5], simkd=[97.5], simkd_dckd=[96.67])))
    assert 'Teacher: t.py (top-1 99.44)' in text
    assert '| SimKD | 97.50 | 1 | 97.50 | 10.0 |' in text
    assert '+- 0.00' not in text
    assert NO_VERDICT in text


def test_seeds_mean_std_and_ratio_to_the_baseline():
    res = _result(dict(kd=[88.0, 90.0, 92.0], simkd=[97.0, 97.2, 97.4],
                       simkd_dckd=[98.0, 98.2, 98.4]))
    text = format_table(res)
    # mean 90, std 2; mean wall (10 + 11 + 12) / 3 = 11
    assert '| KD | 90.00 +- 2.00 | 3 | 88.00, 90.00, 92.00 | 11.0 |' in text
    # median steps: KD 0.09, SimKD 0.10 (1.11x), DCKD 0.11 (1.22x)
    assert '| method | train step (s) | images/s | step vs. KD |' in text
    assert '| SimKD | 0.1000 | 640 | 1.11x | 42.5 | - |' in text
    assert '| SimKD + DCKD | 0.1100 | 582 | 1.22x | 42.5 | 1.1% |' in text
    assert text.splitlines()[-1].endswith('| holds here |')


def test_save_results(tmp_path):
    res = _result(dict(kd=[88.0, 90.0], simkd=[97.0, 97.2],
                       simkd_dckd=[98.0, 98.2]))
    paths = save_results(res, str(tmp_path), 'a title')
    assert [p.rsplit('.', 1)[1] for p in paths] == ['json', 'md', 'png']
    assert json.loads(open(paths[0]).read())['methods'][0]['top1_all'] == \
        [88.0, 90.0]
    md = open(paths[1]).read()
    assert md.startswith('# a title\n\nTeacher: t.py')
    assert '| target: SimKD + DCKD >= SimKD |' in md
    png = open(paths[2], 'rb').read()
    assert png[:8] == b'\x89PNG\r\n\x1a\n' and len(png) > 5000
