# Copyright (c) dckd_mm contributors. All rights reserved.
"""A comparison's runs (dckd_mm.benchmark.runs, .comparison): the same
config checks as tools/train.py, the quiet run output, the progress lines
and a tiny comparison end to end."""
import io
import os.path as osp

import pytest

from dckd_mm.benchmark import (Progress, load_config_sets, run_comparison,
                               run_config, train_teacher)
from dckd_mm.benchmark.output import run_output
from dckd_mm.errors import ConfigError

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SETS = osp.join(ROOT, 'configs', 'demo', 'config_sets.yml')
DCKD = 'configs/demo/dckd_resnet20_resnet8_1xb64_digits100.py'
ALONE = 'configs/demo/resnet8_1xb64_digits100.py'
TINY = {'train_cfg.max_epochs': 1,
        'train_dataloader.dataset.indices': 64,
        'val_dataloader.dataset.indices': 40,
        'param_scheduler.milestones': [1, 2]}


@pytest.fixture(autouse=True)
def _root(monkeypatch):
    monkeypatch.chdir(ROOT)  # the configs' paths are relative to the root


def test_run_config_is_checked_as_train_does(tmp_path):
    work = str(tmp_path / 'w')
    cfg = run_config(DCKD, work, 3, teacher_ckpt=__file__)
    assert cfg.model.teacher_ckpt == __file__
    assert cfg.work_dir == work
    assert cfg.randomness == dict(seed=3, deterministic=True)
    # a plain student ignores the teacher; no teacher file is checked
    assert 'teacher_ckpt' not in run_config(ALONE, work, 0,
                                            teacher_ckpt='t.pth').model
    missing = str(tmp_path / 'none.pth')
    with pytest.raises(FileNotFoundError, match='none.pth'):
        run_config(DCKD, work, 0, teacher_ckpt=missing)
    with pytest.raises(ValueError, match='randomly'):
        run_config(DCKD, work, 0, {'model.teacher_ckpt': ''})
    with pytest.raises(ValueError, match='loss_weight = -1.0'):
        run_config(DCKD, work, 0, {
            'model.distiller.distill_losses.loss_dckd.loss_weight': -1.0},
            teacher_ckpt=__file__)
    with pytest.raises(FileNotFoundError, match='nope.py'):
        run_config('configs/demo/nope.py', work, 0)


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
    with run_output(str(tmp_path)):
        print('Config: a very long dump')
    assert capsys.readouterr().out == ''
    assert 'Config: a very long dump' in (tmp_path / 'console.log').read_text()


def test_seeds_are_checked(tmp_path):
    spec = load_config_sets(SETS)['digits100']
    for seeds in ([], [0, 0]):
        with pytest.raises(ConfigError, match='distinct'):
            run_comparison(spec, str(tmp_path), seeds)


def test_comparison_end_to_end_is_quiet(tmp_path, capsys):
    """Teacher + two students at two seeds, one tiny epoch each: one
    progress line per run on stdout, mmengine's logs in the run folders,
    mean and std over the seeds."""
    spec = load_config_sets(SETS)['digits100']
    spec = dict(spec, claims=[], methods=[
        m for m in spec['methods'] if m['id'] in ('kd', 'simkd_dckd')])
    out = io.StringIO()
    res = run_comparison(spec, str(tmp_path), (0, 1), TINY, stream=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 5, lines
    assert lines[0].startswith('[1/5] teacher')
    assert lines[2].startswith('[3/5] SimKD + DCKD (seed 0)  top-1 ')
    assert lines[4].startswith('[5/5] SimKD + DCKD (seed 1)  top-1 ')
    assert capsys.readouterr().out == ''
    logs = (tmp_path / 'simkd_dckd' / 'seed1' / 'console.log').read_text()
    assert 'Config:' in logs and 'Epoch(train)' in logs
    assert [r['method'] for r in res['methods']] == ['KD', 'SimKD + DCKD']
    for row in res['methods']:
        accs = [r['top1'] for r in res['runs'][row['id']]]
        assert row['top1_all'] == accs and row['seeds'] == 2
        assert row['top1_mean'] == pytest.approx(sum(accs) / 2)
        assert row['top1_std'] == pytest.approx(abs(accs[0] - accs[1]) /
                                                2**0.5)
        assert 0.0 <= row['top1_mean'] <= 100.0
    kd, dckd = res['methods']
    assert kd['step_vs_baseline'] == 1.0
    assert dckd['step_vs_baseline'] == pytest.approx(dckd['step_s'] /
                                                     kd['step_s'])
    assert dckd['dckd_share'] > 0 and kd['dckd_share'] is None
    assert res['seeds'] == [0, 1] and res['baseline'] == 'kd'
    # the teacher is reused when nothing changed, retrained otherwise
    teacher = str(tmp_path / 'teacher')
    ckpt, top1 = train_teacher(spec['teacher'], teacher, 0, TINY)
    assert (ckpt, top1) == (res['teacher']['checkpoint'],
                            res['teacher']['top1'])
    out = io.StringIO()
    train_teacher(spec['teacher'], teacher, 0, TINY,
                  progress=Progress(1, out))
    assert 'reused' in out.getvalue()
