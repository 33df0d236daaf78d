# Copyright (c) dckd_mm contributors. All rights reserved.
"""mmrazor imports on torch >= 2.1 only through dckd_mm's narrow fix."""
import importlib.abc
import subprocess
import sys
import types

import pytest
import torch

from dckd_mm.compat import mmrazor_quantization as mq


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-c', code],
                          capture_output=True,
                          text=True,
                          timeout=300)


def test_feature_test_agrees_with_the_host():
    """Without dckd_mm, ``import mmrazor.models`` fails exactly where the
    feature test says the fix is needed (on torch >= 2.1 it is)."""
    proc = run_python('import mmrazor.models')
    if mq.needed():
        assert proc.returncode != 0
        assert 'ImportError' in proc.stderr
        assert mq.missing_torch_names()
    else:
        assert proc.returncode == 0, proc.stderr[-2000:]


def test_with_fix_mmrazor_models_engine_and_register_all_import():
    proc = run_python(
        'import dckd_mm, mmrazor.models, mmrazor.engine\n'
        'from mmrazor.utils import register_all_modules\n'
        'register_all_modules()\n'
        'from mmrazor.registry import MODELS, TASK_UTILS\n'
        'from dckd_mm.compat import mmrazor_quantization as mq\n'
        'assert mq.is_substituted()\n'
        'for name in ("SingleTeacherDistill", "ConfigurableDistiller",\n'
        '             "DKDLoss", "ATLoss", "DCKDLoss", "SimKDDistill"):\n'
        '    assert name in MODELS.module_dict, name\n'
        'assert "ModuleOutputsRecorder" in TASK_UTILS.module_dict\n'
        'print("ok")')
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'ok' in proc.stdout


def test_placeholders_raise_naming_the_cause():
    from mmrazor.structures.quantization import (BackendConfigs,
                                                 get_native_backend_config)

    import dckd_mm  # noqa: F401
    assert mq.is_substituted()
    with pytest.raises(mq.QuantizationUnavailableError,
                       match=r'torch .*reverse2'):
        BackendConfigs['native']
    with pytest.raises(mq.QuantizationUnavailableError,
                       match='mmrazor quantizers'):
        get_native_backend_config()
    # Only the one subpackage is replaced; the rest is mmrazor's own code.
    import mmrazor.models.losses as losses
    assert losses.__file__.startswith(
        sys.modules['mmrazor'].__path__[0])


class _GoodLoader(importlib.abc.Loader):

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        module.value = 42


class _BadLoader(_GoodLoader):

    def exec_module(self, module):
        raise ImportError('cannot import name reverse2')


def test_loader_keeps_a_working_import_untouched():
    module = types.ModuleType(mq.TARGET)
    mq._FallbackLoader(_GoodLoader()).exec_module(module)
    assert module.value == 42
    assert not hasattr(module, '__dckd_mm_substituted__')
    assert not hasattr(module, 'BackendConfigs')


def test_loader_substitutes_only_on_failure():
    module = types.ModuleType(mq.TARGET)
    mq._FallbackLoader(_BadLoader()).exec_module(module)
    assert isinstance(module.__dckd_mm_substituted__, ImportError)
    assert set(module.__all__) >= {'BackendConfigs',
                                   'get_native_backend_config'}
    with pytest.raises(mq.QuantizationUnavailableError, match='reverse2'):
        module.get_tensorrt_backend_config()


def test_finder_ignores_other_modules():
    assert mq._FINDER.find_spec('mmrazor.models', None) is None
    assert mq._FINDER.find_spec('torch', None) is None
    assert torch.__version__  # imported normally
