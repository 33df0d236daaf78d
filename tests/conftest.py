# Copyright (c) dckd_mm contributors. All rights reserved.
import os
import os.path as osp
import shutil
import tempfile

import pytest
import torch

# Tests are small: keep them on 2 threads and deterministic.
torch.set_num_threads(min(2, os.cpu_count() or 1))


# mmengine runs yapf over every config it logs, dumps or stores in a
# checkpoint's meta: about 3 s per call for mmdet's configs, a quarter of a
# detection test. The text is the same Python without the reformatting, so
# tests skip it (subprocesses the tests start still format).
import mmengine.config.config as _mmengine_config  # noqa: E402

_mmengine_config.FormatCode = lambda text, **kwargs: (text, False)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


# The detection tests save checkpoints of real-size detectors. With a
# passed test's tmp_path deleted at once (setup.cfg), the suite peaked at
# 1.0 GB under pytest's temporary folder (it had been 11 GB, plus the last
# two sessions' folders). Ask for 3 GB: with too little, the tests after the
# disk fills fail by the hundred with "No space left on device"; stop
# before the first one instead.
NEED_GB = 3.0


def pytest_sessionstart(session: pytest.Session) -> None:
    where = session.config.option.basetemp or os.environ.get(
        'PYTEST_DEBUG_TEMPROOT') or tempfile.gettempdir()
    where = osp.abspath(where)
    while not osp.isdir(where):
        where = osp.dirname(where)
    free = shutil.disk_usage(where).free / 2**30
    if free < NEED_GB:
        pytest.exit(
            f'only {free:.1f} GB free under {where}; the test suite needs '
            f'about {NEED_GB:.0f} GB there for its temporary checkpoints. '
            'Free some space, or point the tests elsewhere with TMPDIR=<dir> '
            'or `pytest --basetemp=<dir>`.', returncode=4)


# The end-to-end layer: modules whose tests build Runners, run the tools or
# start subprocesses (seconds to minutes each). `pytest -m "not e2e"` runs
# the unit layer alone; `make test` runs both.
E2E_MODULES = frozenset({
    'test_configs.py', 'test_mim.py', 'test_environment.py',
    'test_no_host_sync.py', 'test_device_check.py',
    'apis/test_run.py', 'apis/test_resume.py', 'apis/test_cli.py',
    'apis/test_resume_changes.py',
    'apis/test_missing_inputs.py', 'apis/test_tool_options.py',
    'apis/test_slurm.py', 'apis/test_test_out.py', 'apis/test_errors.py',
    'apis/test_launch_detection.py', 'apis/test_bad_input.py',
    'apis/test_launchers.py', 'apis/test_tool_flags.py',
    'apis/test_worklock.py', 'apis/test_bad_values.py',
    'compat/test_atomic_checkpoints.py', 'compat/test_cpu_distributed.py',
    'compat/test_failing_rank.py', 'compat/test_safe_loading.py',
    'compat/test_safe_loading_fuzz.py', 'compat/test_integrity.py',
    'compat/test_mmrazor_quantization.py', 'compat/test_registry.py',
    'models/algorithms/test_roi_distill.py',
    'models/algorithms/test_simkd_distill.py',
    'models/algorithms/test_hetero_pairs.py',
    'models/algorithms/test_teacher_mode.py',
    'models/heads/test_simkd_head_projectors.py',
    'models/detection/test_availability.py',
    'models/detection/test_mixing.py',
    'models/detection/test_normalisation.py',
    'models/detection/test_pretrained.py',
    'models/detection/test_roi_heads.py',
    'models/losses/test_dckd_triton.py',
    'datasets/test_imagenet.py', 'converters/test_repdistiller.py',
    'converters/test_export.py', 'converters/test_torchvision_resnet.py',
    'benchmark/test_comparison.py', 'benchmark/test_demo.py',
    'benchmark/test_features.py', 'benchmark/test_demo_configs.py',
    'engine/test_optim_wrapper.py', 'engine/test_hooks.py',
    'utils/test_checkpoint.py',
})
_TESTS = osp.dirname(osp.abspath(__file__))


def pytest_collection_modifyitems(config: pytest.Config,
                                  items: list) -> None:
    """Mark every test of :data:`E2E_MODULES` ``e2e``."""
    for item in items:
        rel = osp.relpath(str(item.fspath), _TESTS).replace(os.sep, '/')
        if rel in E2E_MODULES:
            item.add_marker(pytest.mark.e2e)
