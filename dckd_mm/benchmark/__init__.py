# Copyright (c) dckd_mm contributors. All rights reserved.
"""The benchmark harness of ``tools/demo.py`` and ``tools/analysis_tools``.

- :mod:`.sets`: the named comparison sets and the paper's claims, data in
  a YAML file (the project's: ``configs/demo/config_sets.yml``).
- :mod:`.runs`: one run (teacher or student), its config loaded and
  checked as ``tools/train.py`` does; :mod:`.progress`, :mod:`.output`
  and :mod:`.profiling` are its progress line, quiet output and profiled
  step.
- :mod:`.comparison`: a set's runs over seeds and their summary.
- :mod:`.claims`: the verdict on each claim from the mean and standard
  error over seeds (no verdict from one seed).
- :mod:`.report`: tables, JSON and the bar chart.
- :mod:`.features`, :mod:`.feature_plots`: student features, t-SNE and
  similarity pictures.

Not imported by ``import dckd_mm``; scikit-learn and matplotlib are
imported only by the functions that need them.
"""
from .claims import NO_VERDICT, claims_table, difference, verdict
from .comparison import run_comparison, summarize
from .progress import Progress
from .report import format_table, plot_results, save_results
from .runs import run_config, train_method, train_teacher
from .sets import load_config_sets

__all__ = [
    'load_config_sets', 'run_config', 'train_teacher', 'train_method',
    'run_comparison', 'summarize', 'difference', 'verdict', 'claims_table',
    'NO_VERDICT', 'format_table', 'save_results', 'plot_results', 'Progress'
]
