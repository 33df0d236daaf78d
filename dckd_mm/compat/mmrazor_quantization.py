# Copyright (c) dckd_mm contributors. All rights reserved.
"""Let mmrazor import on torch >= 2.1 without its quantization backends.

``mmrazor/structures/quantization/backend_config`` imports names that torch
removed from ``torch.ao.quantization`` (``reverse2``, ``reverse3``, ...).
Its failure is fatal because ``mmrazor.structures`` imports it eagerly, and
``mmrazor.models`` / ``mmrazor.engine`` import ``mmrazor.structures``.

The fix is an import hook for exactly that one subpackage: the real module
is executed first; only if that raises ``ImportError``/``AttributeError`` are
its public names replaced by placeholders that raise a
:class:`QuantizationUnavailableError` naming the original cause when used.
Distillation never touches them; quantization (mmrazor's quantizers) cannot
work on this torch anyway.
"""
import importlib.abc
import importlib.machinery
import sys
from collections.abc import Mapping
from types import ModuleType
from typing import Any, Callable, Iterator, NoReturn, Optional, Sequence

from ..errors import UnsupportedHostError
from .registry import Fix

__all__ = [
    'TARGET', 'QuantizationUnavailableError', 'install', 'uninstall',
    'is_substituted', 'needed', 'missing_torch_names', 'FIX'
]

TARGET = 'mmrazor.structures.quantization.backend_config'

# The public names of the real subpackage (its ``__all__``), star-imported
# by ``mmrazor.structures.quantization``.
_PUBLIC_FUNCTIONS = (
    'get_native_backend_config',
    'get_native_backend_config_dict',
    'get_academic_backend_config',
    'get_academic_backend_config_dict',
    'get_openvino_backend_config',
    'get_openvino_backend_config_dict',
    'get_tensorrt_backend_config',
    'get_tensorrt_backend_config_dict',
)


class QuantizationUnavailableError(UnsupportedHostError, RuntimeError):
    """mmrazor's quantization backend configs failed to import."""


def _root_cause() -> str:
    """The torch name mmrazor needs and torch no longer has, if any."""
    try:
        from torch.ao.quantization.fuser_method_mappings import (  # noqa
            reverse2, reverse3, reverse_sequential_wrapper2)
        from torch.ao.quantization.qconfig_mapping import \
            _FIXED_QPARAMS_OP_TO_OBSERVER  # noqa
    except ImportError as err:
        return f' (root cause: {err})'
    return ''


def _message(cause: BaseException) -> str:
    import torch
    return (f"mmrazor's quantization backend configs ({TARGET}) are not "
            f'available on torch {torch.__version__}: importing them failed '
            f'with {type(cause).__name__}: {cause}{_root_cause()}. '
            'dckd_mm replaced them by '
            'placeholders so that mmrazor\'s distillation imports; '
            'quantization (mmrazor quantizers, QAT/PTQ) needs the torch '
            'version mmrazor 1.0.0 was written for (torch < 2.1).')


def _placeholder_function(name: str, cause: BaseException) -> Callable:

    def placeholder(*args: Any, **kwargs: Any) -> NoReturn:
        raise QuantizationUnavailableError(_message(cause))

    placeholder.__name__ = placeholder.__qualname__ = name
    return placeholder


class _UnavailableBackendConfigs(Mapping):
    """Stands in for ``BackendConfigs``: any look-up raises the cause."""

    def __init__(self, cause: BaseException) -> None:
        self._cause = cause

    def __getitem__(self, key: str) -> NoReturn:
        raise QuantizationUnavailableError(_message(self._cause))

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


class _FallbackLoader(importlib.abc.Loader):
    """Runs the real loader; on failure fills the module with placeholders."""

    def __init__(self, real: importlib.abc.Loader) -> None:
        self.real = real

    def create_module(self, spec: importlib.machinery.ModuleSpec
                      ) -> Optional[ModuleType]:
        return self.real.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        try:
            self.real.exec_module(module)
        except (ImportError, AttributeError) as cause:
            # Drop half-imported submodules so nothing stale is reused.
            for name in [n for n in sys.modules if n.startswith(TARGET + '.')]:
                del sys.modules[name]
            for name in _PUBLIC_FUNCTIONS:
                setattr(module, name, _placeholder_function(name, cause))
            module.BackendConfigs = _UnavailableBackendConfigs(cause)
            module.__all__ = ['BackendConfigs', *_PUBLIC_FUNCTIONS]
            module.__dckd_mm_substituted__ = cause


class _Finder(importlib.abc.MetaPathFinder):
    """Meta-path finder that intercepts :data:`TARGET` only."""

    def find_spec(self, fullname: str, path: Optional[Sequence[str]],
                  target: Optional[ModuleType] = None
                  ) -> Optional[importlib.machinery.ModuleSpec]:
        if fullname != TARGET:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return None
        spec.loader = _FallbackLoader(spec.loader)
        return spec


_FINDER = _Finder()

# The torch names that mmrazor 1.0.0's backend configs import or call at
# import time (read from its ``common_operator_config_utils.py``). When all
# of them exist, mmrazor imports on its own and the fix stays out.
_TORCH_NAMES = (
    ('torch.ao.quantization.fuser_method_mappings', 'reverse2'),
    ('torch.ao.quantization.fuser_method_mappings', 'reverse3'),
    ('torch.ao.quantization.fuser_method_mappings',
     'reverse_sequential_wrapper2'),
    ('torch.ao.quantization.qconfig_mapping',
     '_FIXED_QPARAMS_OP_TO_OBSERVER'),
    ('torch.ao.quantization.backend_config.BackendPatternConfig',
     '_set_overwrite_output_fake_quantize'),
)


def missing_torch_names() -> list:
    """The names of :data:`_TORCH_NAMES` the running torch lacks."""
    import importlib
    missing = []
    for owner, name in _TORCH_NAMES:
        module_name, _, attr = owner.rpartition('.')
        try:
            try:
                obj = importlib.import_module(owner)
            except ImportError:
                obj = getattr(importlib.import_module(module_name), attr)
            getattr(obj, name)
        except (ImportError, AttributeError):
            missing.append(f'{owner}.{name}')
    return missing


def needed() -> Optional[str]:
    """Feature test: does the running torch lack what mmrazor's backend
    configs use at import time?"""
    missing = missing_torch_names()
    if not missing:
        return None
    import torch
    return (f'torch {torch.__version__} lacks {", ".join(missing[:3])}'
            f'{" ..." if len(missing) > 3 else ""}, which mmrazor 1.0\'s '
            'quantization backend configs use at import time: without the '
            'fix `import mmrazor.models` fails')


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (idempotent)."""
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)


def uninstall() -> None:
    """Remove the finder."""
    while _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)


def is_substituted() -> bool:
    """True when mmrazor's backend configs were replaced by placeholders."""
    module = sys.modules.get(TARGET)
    return module is not None and hasattr(module, '__dckd_mm_substituted__')


FIX = Fix(
    name='mmrazor_quantization',
    summary='mmrazor imports without its quantization backend configs '
    '(placeholders that raise when used)',
    needed=needed,
    install=install,
    uninstall=uninstall)
