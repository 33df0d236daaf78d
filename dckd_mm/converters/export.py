# Copyright (c) dckd_mm contributors. All rights reserved.
"""Export the student of a distillation checkpoint as a standalone
mmpretrain or mmdet model (config + ``{'state_dict', 'meta'}``
checkpoint).

For SimKD-style students the exported model keeps the projector and the
copy of the teacher classifier (its ``SimKDClsHead``): predictions equal the
distillation model's. An export is verified before it is kept: the model
is built from the written config and the written weights load into it
strictly, or nothing is left behind.
"""
import os.path as osp
from collections import OrderedDict
from typing import Dict, List, Tuple

import torch
from mmengine.config import Config
from torch import Tensor

from ..compat.safe_loading import safe_load
from ..errors import CheckpointError, ConfigError
from ..models.builder import build_model
from ..utils.atomic import atomic_write_files
from ..utils.checkpoint import describe_mismatch, extract_state_dict
from .outputs import check_outputs, config_text

__all__ = [
    'student_state_dict', 'student_config', 'verify_export', 'export_student'
]

_KEEP = ('default_scope', 'custom_imports', 'data_preprocessor',
         'test_dataloader', 'test_evaluator', 'test_cfg', 'val_dataloader',
         'val_evaluator', 'val_cfg', 'env_cfg', 'default_hooks',
         'visualizer', 'vis_backends', 'log_level')


def student_state_dict(state: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """``architecture.*`` entries of an mmrazor algorithm, unprefixed.

    Raises:
        CheckpointError: there are none (not a distillation checkpoint).
    """
    prefix = 'architecture.'
    out = OrderedDict(
        (k[len(prefix):], v) for k, v in state.items()
        if k.startswith(prefix))
    if not out:
        raise CheckpointError('the checkpoint has no architecture.* '
                              '(student) weights: is it a distillation '
                              'checkpoint?')
    return out


def student_config(cfg: Config) -> Config:
    """A plain mmpretrain config for the student of distillation ``cfg``."""
    model = cfg.model
    if 'architecture' not in model:
        raise ConfigError('the config has no model.architecture '
                          '(student): is it a distillation config?')
    student = model.architecture.to_dict()
    student.pop('_scope_', None)
    if 'data_preprocessor' in model:
        student.setdefault('data_preprocessor', model.data_preprocessor)
    out = {k: cfg[k] for k in _KEEP if k in cfg}
    out['model'] = student
    out.setdefault('default_scope', 'mmpretrain')
    out['custom_imports'] = dict(
        imports=['dckd_mm'], allow_failed_imports=False)
    if out.get('val_cfg', {}).get('type', '').endswith(
            'SingleTeacherDistillValLoop'):
        out['val_cfg'] = dict()
    return Config(out)


def verify_export(config_path: str, checkpoint_path: str,
                  config_format: str = '.py') -> None:
    """Build the model of the written student config and load the written
    weights into it strictly.

    Args:
        config_path (str): the written config (read as ``config_format``,
            whatever its name, so that a ``.partial`` file can be read).
        checkpoint_path (str): the written checkpoint.
        config_format (str): ``'.py'``, ``'.json'`` or ``'.yaml'``.

    Raises:
        CheckpointError: the weights do not fit the model of the config;
            the message lists the missing, unexpected and misshapen keys.
    """
    with open(config_path, encoding='utf-8') as f:
        s_cfg = Config.fromstring(f.read(), file_format=config_format)
    # a ConfigDict, not a plain dict: mmdet reads train_cfg.rpn and the
    # like as attributes
    model = build_model(s_cfg.model, s_cfg.get('default_scope',
                                               'mmpretrain'))
    state = extract_state_dict(safe_load(checkpoint_path,
                                         map_location='cpu'))
    detail = describe_mismatch(state, model.state_dict())
    if detail:
        raise CheckpointError(
            'the student weights of the checkpoint do not fit the student '
            f'of the config: {detail}. Export a checkpoint with the config '
            'it was trained with (not one of another teacher/student '
            'pair); nothing was written.')
    model.load_state_dict(state, strict=True)


def export_student(config: str, checkpoint: str, out_config: str,
                   out_checkpoint: str) -> Tuple[Config, Dict[str, Tensor]]:
    """Write the student config and checkpoint; returns both.

    Both output names are checked first (not a folder, a writable folder,
    a config extension mmengine reads, two different files): a bad one is
    refused before anything is read or written. The pair is then written
    all or nothing (:func:`dckd_mm.utils.atomic.atomic_write_files`):
    both go to ``*.partial`` names, the model is built from the written
    config and the written weights are loaded into it strictly, and only
    then are both renamed; a failed rename puts back the file the other
    one replaced. On any failure existing files under the output names
    are left as they were, and no ``.partial`` is left.

    Raises:
        FileNotFoundError: no config or checkpoint file.
        ConfigError: not a distillation config, an unknown config
            extension, or the two output names the same.
        OutputPathError: an output name is a folder or cannot be written.
        CheckpointError: not a distillation checkpoint, or one that does
            not fit the config (another pair): the message lists the
            mismatch.
        OutOfSpaceError: the disk is full (nothing was changed).
    """
    check_outputs(out_checkpoint, out_config, 'student ')
    cfg = Config.fromfile(config)
    state = student_state_dict(
        extract_state_dict(safe_load(checkpoint, map_location='cpu')))
    s_cfg = student_config(cfg)
    text = config_text(s_cfg, out_config).encode('utf-8')
    saved = {
        'state_dict': state,
        'meta': dict(source_checkpoint=checkpoint, source_config=config,
                     exporter='dckd_mm')
    }

    def verify(tmps: List[str]) -> None:
        verify_export(tmps[1], tmps[0], osp.splitext(out_config)[1].lower())

    atomic_write_files([(out_checkpoint, lambda f: torch.save(saved, f)),
                        (out_config, lambda f: f.write(text))], verify)
    return s_cfg, state
