# Copyright (c) dckd_mm contributors. All rights reserved.
"""dckd_mm's error taxonomy: one base class for every user-facing error.

Every error that reports bad *input* (a missing or corrupt dataset, a
checkpoint that is damaged, untrusted or does not fit, a config value that
is out of range, a conversion that cannot be exact) derives from
:class:`DCKDError`. The tools print exactly these as ``error: ...`` and exit
with status 2; anything else is a bug and keeps its traceback.

Each subclass also derives from the builtin its callers used to catch
(``ValueError``, ``RuntimeError``, ``FileNotFoundError``...), so code that
caught the builtin keeps working. This module imports nothing from
OpenMMLab or torch.
"""
import pickle

__all__ = [
    'DCKDError', 'ConfigError', 'DatasetError', 'CheckpointError',
    'CorruptCheckpointError', 'UntrustedCheckpointError',
    'MissingFileError', 'ConversionError', 'UnsupportedHostError',
    'ConfigTypeError', 'HostBuildError', 'OutputPathError',
    'OutOfSpaceError'
]


class DCKDError(Exception):
    """Base class of every error caused by the user's input or setup."""


class ConfigError(DCKDError, ValueError):
    """A config value is missing, out of range or inconsistent."""


class ConfigTypeError(ConfigError, TypeError):
    """A config names a component of the wrong kind (a head, a teacher or
    a detector that the algorithm cannot use); a ``TypeError`` too."""


class DatasetError(DCKDError, RuntimeError):
    """A dataset is missing, corrupt or inconsistent."""


class CheckpointError(DCKDError, ValueError):
    """A checkpoint does not fit: wrong architecture, keys or shapes, no
    resumable state, another teacher."""


class CorruptCheckpointError(CheckpointError):
    """A checkpoint file is truncated, damaged or not a checkpoint."""


class UntrustedCheckpointError(DCKDError, pickle.UnpicklingError):
    """A checkpoint asks to run a callable that is not allow-listed."""


class MissingFileError(DCKDError, FileNotFoundError):
    """A file the user named (checkpoint, config, data) does not exist."""


class ConversionError(DCKDError, ValueError):
    """The source does not convert exactly to the target architecture."""


class UnsupportedHostError(DCKDError, ImportError):
    """The installed host libraries lack what a feature needs (for example
    detection without mmdet or without mmcv's compiled ops)."""


class HostBuildError(UnsupportedHostError, RuntimeError):
    """The host libraries are installed but built without what this machine
    needs (mmcv's ops without CUDA on a machine with a GPU); a
    ``RuntimeError`` too."""


class OutputPathError(DCKDError, OSError):
    """An output name cannot be written: it is a folder, it lies under a
    file, or its folder is not writable. Raised before anything is
    written; an ``OSError`` too."""


class OutOfSpaceError(DCKDError, OSError):
    """A write failed because the disk (or the user's quota) is full, or
    the file would exceed the process's file-size limit; an ``OSError``
    too, with the ``errno`` and ``filename`` of the failed write (its
    text stays the message alone, without ``[Errno N]``)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ''
