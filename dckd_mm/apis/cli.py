# Copyright (c) dckd_mm contributors. All rights reserved.
"""The command-line options ``tools/train.py`` and ``tools/test.py``
share."""
import argparse
import re
from typing import Any, Optional

from mmengine.config import DictAction

__all__ = ['CfgOptionsAction', 'add_common_args']


class CfgOptionsAction(DictAction):
    """mmengine's ``DictAction`` that refuses a value with a space in it.

    mmengine removes every space from ``--cfg-options`` values, so
    ``model.teacher_ckpt='dir with spaces/t.pth'`` would silently become
    ``dirwithspaces/t.pth``. Spaces around the commas and brackets of a
    list (``a=[1, 2]``) are still fine. A refused value ends the parse with
    argparse's usage error (exit status 2).
    """

    def __call__(self, parser: argparse.ArgumentParser,
                 namespace: argparse.Namespace, values: Any,
                 option_string: Optional[str] = None) -> None:
        for kv in values:
            key, _, val = kv.partition('=')
            if ' ' in re.sub(r'\s*([,\[\]()])\s*', r'\1', val.strip()):
                parser.error(
                    f'--cfg-options {key}: the value {val!r} contains a '
                    'space, which mmengine\'s option parser drops. Pass '
                    'paths with spaces through --teacher-ckpt, --data-root '
                    'or --work-dir instead, or rename the folder.')
        super().__call__(parser, namespace, values, option_string)


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """Add the options ``tools/train.py`` and ``tools/test.py`` share.

    Args:
        parser (argparse.ArgumentParser): the tool's parser.
    """
    parser.add_argument('--work-dir', help='where logs and checkpoints go')
    parser.add_argument(
        '--teacher-ckpt',
        help='teacher checkpoint (model.teacher_ckpt); any path, spaces '
        'included')
    parser.add_argument(
        '--data-root',
        help='data folder of every dataset in the config that has a '
        'data_root; any path, spaces included')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=CfgOptionsAction,
        help='override config entries, e.g. model.tau=2.0 (values may not '
        'contain spaces: use the dedicated path options)')
    parser.add_argument(
        '--no-pin-memory',
        action='store_true',
        help='pin_memory=False in every dataloader')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
