# Copyright (c) dckd_mm contributors. All rights reserved.
"""Which checkpoint ``--resume`` uses, and whether a checkpoint fits the
model it is loaded into (resume, test).

The teacher's part of these checks is the model's own
(:func:`dckd_mm.models.algorithms.teacher_checkpoint.teacher_checkpoint_rules`):
what its checkpoints hold, and how a saved teacher is verified.
"""
import os.path as osp
from typing import Any, Mapping, Optional, Tuple

from mmengine.config import Config

from ..compat.atomic_checkpoints import robust_find_latest
from ..compat.safe_loading import safe_load
from ..errors import CheckpointError, MissingFileError
from ..models.algorithms.teacher_checkpoint import teacher_checkpoint_rules
from ..utils.checkpoint import describe_mismatch
from .config import unset

__all__ = [
    'resume_checkpoint', 'check_fits', 'check_resumed_teacher'
]


def resume_checkpoint(cfg: Config, resume: str,
                      start_over: bool) -> Tuple[Optional[str], Any]:
    """The checkpoint ``--resume`` will use and its contents, checked to
    carry what an exact resume needs.

    Args:
        cfg (Config): the run's config (``work_dir``, ``param_scheduler``).
        resume (str): ``'auto'`` (the newest complete checkpoint with
            optimizer state in the work dir) or a checkpoint path.
        start_over (bool): with ``'auto'``, start from epoch 0 when there
            is nothing to resume instead of refusing.

    Returns:
        Tuple[str, Any]: the path and the loaded checkpoint, or
        ``(None, None)`` to start over.

    Raises:
        MissingFileError: nothing to resume (without ``start_over``), or no
            file at ``resume``.
        CheckpointError: a weights-only file (no optimizer, epoch or
            scheduler state).
        CorruptCheckpointError, UntrustedCheckpointError: as
            :func:`dckd_mm.compat.safe_load`.
    """
    if resume == 'auto':
        path = robust_find_latest(cfg.work_dir) if osp.isdir(
            cfg.work_dir) else None
        if path is None:
            if start_over:
                return None, None
            raise MissingFileError(
                f'--resume: {cfg.work_dir} holds no complete checkpoint '
                'with optimizer state to resume from (weights-only best_* '
                'files cannot resume a run). Nothing was trained. To start '
                'from epoch 0, run without --resume or add --start-over.')
    else:
        path = resume
    if not osp.isfile(osp.expanduser(path)):
        raise MissingFileError(f'--resume: checkpoint {path} does not '
                               'exist.')
    ckpt = safe_load(path, map_location='cpu')
    meta = ckpt.get('meta') if isinstance(ckpt, Mapping) else None
    missing = [k for k in ('optimizer', 'state_dict')
               if not isinstance(ckpt, Mapping) or k not in ckpt]
    if not isinstance(meta, Mapping) or 'epoch' not in meta:
        missing.append("meta['epoch']")
    if cfg.get('param_scheduler') and isinstance(ckpt, Mapping) and \
            'param_schedulers' not in ckpt:
        missing.append('param_schedulers')
    if missing:
        raise CheckpointError(
            f'--resume: {path} cannot resume a run: it lacks '
            f'{", ".join(missing)} (a weights-only file such as best_*.pth, '
            'an exported model or a teacher). Resuming from it would reset '
            'the optimizer and move the learning-rate schedule. To start a '
            'new run from its weights, drop --resume and pass '
            f'--cfg-options load_from={path}.')
    return path, ckpt


def check_fits(state: Mapping, model: Any, path: str, purpose: str,
               need_teacher: bool = True) -> None:
    """Refuse a checkpoint whose keys or shapes do not fit ``model``.

    What the teacher contributes is the model's rule
    (``fitting_states``): its keys are not compared when they are not
    needed (testing runs the student alone) or not saved (they come from
    ``teacher_ckpt``).

    Args:
        state (Mapping): the checkpoint's state dict.
        model (Any): the built model (unwrapped).
        path (str): the checkpoint, for the message.
        purpose (str): what to do instead, ending the message.
        need_teacher (bool): whether the teacher's weights must come from
            the checkpoint.

    Raises:
        CheckpointError: listing the missing, unexpected and misshapen
            keys.
    """
    rules = teacher_checkpoint_rules(model)
    if rules is None:
        reference = model.state_dict()
    else:
        state, reference = rules.fitting_states(state, need_teacher)
    detail = describe_mismatch(state, reference)
    if detail:
        raise CheckpointError(
            f'checkpoint {path} does not fit the model of the config: '
            f'{detail}. {purpose}')


def check_resumed_teacher(cfg: Config, state: Mapping, model: Any,
                          path: str) -> None:
    """The teacher in a resume checkpoint must equal ``teacher_ckpt``, by
    the model's rule (``verify_saved_teacher``). A checkpoint saved without
    the teacher is checked by the model itself when it loads
    (``RoIDCKDDistill`` compares teacher fingerprints).

    Args:
        cfg (Config): the run's config (``model.teacher_ckpt``).
        state (Mapping): the checkpoint's state dict.
        model (Any): the built model (unwrapped).
        path (str): the checkpoint, for the message.

    Raises:
        CheckpointError: the saved teacher differs.
    """
    rules = teacher_checkpoint_rules(model)
    ckpt = cfg.model.get('teacher_ckpt')
    if rules is None or unset(ckpt):
        return
    rules.verify_saved_teacher(state, path, ckpt)
