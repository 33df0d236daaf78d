# Copyright (c) dckd_mm contributors. All rights reserved.
"""The files a conversion or an export writes: their names checked before
anything is read or converted, and a config's text by its extension.

Every output name is refused up front (:func:`check_outputs`) when it
could not be written: a folder, a folder that cannot be written, an
unknown config extension, the same name twice. The writing itself is
:func:`dckd_mm.utils.atomic.atomic_write_files`: both files land, or
both stay as they were.
"""
import os.path as osp
from typing import Optional

from mmengine.config import Config

from ..errors import ConfigError
from ..utils.atomic import check_output

__all__ = ['CONFIG_FORMATS', 'check_outputs', 'config_text']

# what mmengine reads a config as, by its file name
CONFIG_FORMATS = ('.py', '.json', '.yaml', '.yml')


def _check_config_name(path: str, what: str) -> None:
    """Refuse a config name mmengine cannot read back."""
    if osp.splitext(path)[1].lower() not in CONFIG_FORMATS:
        raise ConfigError(
            f'{what} {path}: name a .py, .json or .yaml file (mmengine '
            'reads configs by their extension); nothing was written.')


def check_outputs(checkpoint: str, config: Optional[str] = None,
                  what: str = '') -> None:
    """Refuse output names that could not be written, before anything is.

    Args:
        checkpoint (str): the checkpoint to write.
        config (str, optional): the config to write beside it.
        what (str): a prefix for the messages (``'student '``).

    Raises:
        OutputPathError: a name is a folder, or its folder cannot be
            written.
        ConfigError: the config is not a ``.py``/``.json``/``.yaml`` file,
            or both names are the same file.
    """
    if config is not None:
        _check_config_name(config, f'{what}config')
        if osp.abspath(osp.expanduser(config)) == osp.abspath(
                osp.expanduser(checkpoint)):
            raise ConfigError(
                f'the {what}config and checkpoint would both be written to '
                f'{config}: name two files.')
        check_output(config, f'{what}config')
    check_output(checkpoint, f'{what}checkpoint')


def config_text(cfg: Config, path: str) -> str:
    """``cfg`` as the text of a config file named ``path``.

    Raises:
        ConfigError: ``path`` is not a ``.py``/``.json``/``.yaml`` name.
    """
    _check_config_name(path, 'config')
    ext = osp.splitext(path)[1].lower()
    if ext == '.py':
        return cfg.pretty_text
    import mmengine
    return mmengine.dump(cfg.to_dict(), file_format=ext[1:].replace(
        'yml', 'yaml'))
