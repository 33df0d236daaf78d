# Copyright (c) dckd_mm contributors. All rights reserved.
"""Experiment code of the analysis tools and of ``tools/demo.py``: the
comparison sets and their runs (:mod:`.compare`), the loss and step speed
runs (:mod:`.loss_speed`), the t-SNE and similarity pictures
(:mod:`.analysis`). Not part of the ``dckd_mm`` package: the scripts
beside it import ``lib.<module>`` (python puts a script's own folder first
on ``sys.path``); ``tools/demo.py`` and ``tests/conftest.py`` add
``tools/analysis_tools`` to ``sys.path`` themselves.
"""
