# Copyright (c) dckd_mm contributors. All rights reserved.
"""Export the student of a distillation checkpoint as a standalone
mmpretrain model (config + ``{'state_dict', 'meta'}`` checkpoint).

For SimKD-style students the exported model keeps the projector and the
copy of the teacher classifier (its ``SimKDClsHead``): predictions equal the
distillation model's.
"""
import os
import os.path as osp
from collections import OrderedDict
from typing import Dict, Tuple

from mmengine.config import Config
from torch import Tensor

from ..compat.safe_loading import safe_load
from .checkpoint import atomic_save, extract_state_dict

__all__ = ['student_state_dict', 'student_config', 'export_student']

_KEEP = ('default_scope', 'custom_imports', 'data_preprocessor',
         'test_dataloader', 'test_evaluator', 'test_cfg', 'val_dataloader',
         'val_evaluator', 'val_cfg', 'env_cfg', 'default_hooks',
         'visualizer', 'vis_backends', 'log_level')


def student_state_dict(state: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """``architecture.*`` entries of an mmrazor algorithm, unprefixed."""
    prefix = 'architecture.'
    out = OrderedDict(
        (k[len(prefix):], v) for k, v in state.items()
        if k.startswith(prefix))
    if not out:
        raise ValueError('the checkpoint has no architecture.* (student) '
                         'weights: is it a distillation checkpoint?')
    return out


def student_config(cfg: Config) -> Config:
    """A plain mmpretrain config for the student of distillation ``cfg``."""
    model = cfg.model
    if 'architecture' not in model:
        raise ValueError('the config has no model.architecture (student): '
                         'is it a distillation config?')
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


def export_student(config: str, checkpoint: str, out_config: str,
                   out_checkpoint: str) -> Tuple[Config, Dict[str, Tensor]]:
    """Write the student config and checkpoint; returns both."""
    cfg = Config.fromfile(config)
    state = student_state_dict(
        extract_state_dict(safe_load(checkpoint, map_location='cpu')))
    s_cfg = student_config(cfg)
    atomic_save(
        {
            'state_dict': state,
            'meta': dict(source_checkpoint=checkpoint,
                         source_config=config, exporter='dckd_mm')
        }, out_checkpoint)
    if osp.dirname(out_config):
        os.makedirs(osp.dirname(out_config), exist_ok=True)
    s_cfg.dump(out_config)
    return s_cfg, state
