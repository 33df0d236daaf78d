# Copyright (c) dckd_mm contributors. All rights reserved.
"""Experiment code of the analysis tools and of ``tools/demo.py``: the
comparison sets and their runs (:mod:`.compare`), the loss and step speed
runs (:mod:`.loss_speed`), the t-SNE and similarity pictures
(:mod:`.analysis`). Not part of the ``dckd_mm`` package: the tools put
``tools/analysis_tools`` on ``sys.path`` and import ``lib.<module>``.
"""
