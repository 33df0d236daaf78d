# Copyright (c) dckd_mm contributors. All rights reserved.
"""A pickle module for ``torch.load`` that rebuilds allow-listed globals only.

Used by :func:`dckd_mm.compat.safe_load` on torch versions that cannot
extend the weights-only allow-list (``torch.serialization.safe_globals``
appeared in torch 2.5; torch 2.1 has a fixed list without mmengine's
types). ``torch.load(path, pickle_module=this_module, weights_only=False)``
subclasses :class:`Unpickler` and calls :func:`load`; both resolve globals
through :meth:`Unpickler.find_class`, which admits exactly:

* the globals of torch's own weights-only unpickler (tensors, storages,
  ``OrderedDict``, dtypes...);
* mmengine's checkpoint types (:func:`.safe_loading.mmengine_safe_globals`),
  with ``builtins.getattr`` answered by the replacement that only returns
  ``HistoryBuffer``'s four statistics methods;
* the extra types of the current call (:func:`extra_globals`).

Any other global raises :class:`RefusedGlobal` *before* it is imported, so
nothing from a hostile file runs (the restriction the Python docs describe
under "Restricting Globals").
"""
import _compat_pickle
import contextlib
import pickle
from typing import Any, Dict, Iterable, Iterator, List

__all__ = ['Unpickler', 'load', 'RefusedGlobal', 'extra_globals']

UnpicklingError = pickle.UnpicklingError

_EXTRA: List[Dict[str, Any]] = [{}]

# torch's tensor rebuild functions (plain tensor constructors), where the
# running torch has them.
_TORCH_REBUILDS = ('_rebuild_tensor_v2', '_rebuild_tensor_v3',
                   '_rebuild_parameter', '_rebuild_parameter_with_state',
                   '_rebuild_device_tensor_from_numpy',
                   '_rebuild_device_tensor_from_cpu_tensor',
                   '_rebuild_qtensor', '_rebuild_sparse_tensor',
                   '_rebuild_meta_tensor_no_storage')


class RefusedGlobal(pickle.UnpicklingError):
    """A pickle named a global that is not allow-listed."""

    def __init__(self, qualname: str) -> None:
        super().__init__(f'refused global {qualname}')
        self.qualname = qualname


def _qualname(obj: Any) -> str:
    return f'{obj.__module__}.{obj.__qualname__}'


def _allowed() -> Dict[str, Any]:
    from torch import _weights_only_unpickler as wou

    from .safe_loading import mmengine_safe_globals
    allowed: Dict[str, Any] = dict(wou._get_allowed_globals())
    for entry in mmengine_safe_globals():
        if isinstance(entry, tuple):
            replacement, name = entry
            allowed[name] = replacement
        else:
            allowed[_qualname(entry)] = entry
    # What newer torch's weights-only unpickler also accepts by default.
    import builtins
    import codecs
    import collections

    import torch
    allowed.update({
        '_codecs.encode': codecs.encode,
        'builtins.set': builtins.set,
        'builtins.bytearray': builtins.bytearray,
        'builtins.complex': builtins.complex,
        'collections.Counter': collections.Counter,
        'torch.device': torch.device,
    })
    for name in _TORCH_REBUILDS:
        func = getattr(torch._utils, name, None)
        if func is not None:
            allowed.setdefault(f'torch._utils.{name}', func)
    for name, value in vars(torch).items():
        if isinstance(value, torch.dtype):
            allowed.setdefault(f'torch.{name}', value)
    # numpy pickles its array helpers under these module names
    import numpy as np
    allowed.setdefault('numpy.core.multiarray._reconstruct',
                       np.core.multiarray._reconstruct)
    allowed.setdefault('numpy.core.multiarray.scalar',
                       np.core.multiarray.scalar)
    allowed.update(_EXTRA[-1])
    return allowed


@contextlib.contextmanager
def extra_globals(extra: Iterable[Any]) -> Iterator[None]:
    """Allow ``extra`` types (classes or functions) within the block."""
    names = {_qualname(obj): obj for obj in extra}
    _EXTRA.append({**_EXTRA[-1], **names})
    try:
        yield
    finally:
        _EXTRA.pop()


class Unpickler(pickle.Unpickler):
    """``pickle.Unpickler`` whose ``find_class`` admits the allow-list."""

    def find_class(self, module: str, name: str) -> Any:
        # protocol 2 pickles (torch's default) name Python 2 modules
        # (``__builtin__``): map them as pickle's own find_class does; the
        # allow-list applies to the mapped name
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        qualname = f'{module}.{name}'
        allowed = _allowed()
        if qualname in allowed:
            return allowed[qualname]
        raise RefusedGlobal(qualname)


def load(file: Any, **kwargs: Any) -> Any:
    """``pickle.load`` through :class:`Unpickler` (torch reads a legacy
    checkpoint's header pickles with it)."""
    return Unpickler(file, **kwargs).load()


def loads(data: bytes, **kwargs: Any) -> Any:
    """``pickle.loads`` through :class:`Unpickler`."""
    import io
    return load(io.BytesIO(data), **kwargs)
