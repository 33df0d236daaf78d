# Copyright (c) dckd_mm contributors. All rights reserved.
"""Which checkpoint ``--resume`` uses, whether a checkpoint fits the
model it is loaded into (resume, test), and whether the run's config is
the one the checkpoint was saved with (:func:`check_resume_config`).

The teacher's part of these checks is the model's own
(:func:`dckd_mm.models.algorithms.teacher_checkpoint.teacher_checkpoint_rules`):
what its checkpoints hold, and how a saved teacher is verified.
"""
import os.path as osp
from typing import Any, List, Mapping, Optional, Tuple

from mmengine.config import Config

from ..compat.atomic_checkpoints import robust_find_latest
from ..compat.safe_loading import safe_load
from ..errors import CheckpointError, ConfigError, MissingFileError
from ..models.algorithms.teacher_checkpoint import teacher_checkpoint_rules
from ..utils.checkpoint import describe_mismatch
from .config import unset
from .config_diff import (Change, config_values, diff_configs, format_change,
                          parse_config_text)
from .resume_changes import (RECORD, REDERIVED, ResumeChangesHook, group_sizes,
                             under)

__all__ = [
    'resume_checkpoint', 'check_fits', 'check_resumed_teacher',
    'check_resume_config'
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


def check_resume_config(cfg: Config, ckpt: Mapping, path: str,
                        with_changes: bool = False
                        ) -> Optional[ResumeChangesHook]:
    """Compare the run's config with the one ``ckpt`` was saved with
    (``meta['cfg']``, read without running it), before anything is built
    or written.

    Every key that changes training is compared
    (:mod:`dckd_mm.apis.config_diff` lists the ignored ones: locations,
    logging, validation and testing). A difference is refused unless
    ``with_changes`` (``--resume-with-changes``): mmengine's resume would
    restore the checkpoint's optimizer settings and schedule whatever the
    config says, while the work dir's config recorded the new values.

    A checkpoint without a readable config (another tool's, or one whose
    meta was edited) is refused too, unless ``with_changes``; then a
    warning says that the config could not be compared, and the run's
    config decides the optimizer settings and the schedule. Refusing is
    the choice here because mmengine's Runner always stores the config, so
    a resumable checkpoint without one is foreign or altered, and resume
    is exact or refused; the flag is the one explicit way on, and it is
    recorded.

    Args:
        cfg (Config): the run's config.
        ckpt (Mapping): the loaded resume checkpoint.
        path (str): its path, for the messages.
        with_changes (bool): accept the differences and apply them.

    Returns:
        ResumeChangesHook, optional: the hook that applies, logs and
        records the accepted changes (install it on the Runner); None when
        the configs train the same.

    Raises:
        CheckpointError: the configs differ, or the checkpoint holds no
            config to compare with, and ``with_changes`` is False.
        ConfigError: the run's config cannot be written as config text
            (``pretty_text``), and ``with_changes`` is False.
    """
    meta = ckpt.get('meta') if isinstance(ckpt, Mapping) else None
    meta = meta if isinstance(meta, Mapping) else {}
    old = parse_config_text(meta.get('cfg'))
    new = config_values(cfg)
    reason = None
    if not old:  # None, or no key at all: mmengine never writes that
        reason = ("it stores no config (meta['cfg'] is missing)"
                  if 'cfg' not in meta else
                  "its meta['cfg'] is not a config text mmengine wrote")
        reason += ': a checkpoint from another tool, or an edited one'
    elif new is None:
        reason = ('this run\'s config holds values that cannot be written '
                  'as config text')
    changes: Optional[List[Change]] = None
    if reason is None:
        changes = diff_configs(old, new)
        if not changes:
            return None
    load_from = f'--cfg-options load_from={path}'
    if not with_changes:
        if changes is None:
            error = CheckpointError if not old else ConfigError
            raise error(
                f'--resume: {path} cannot be checked against this run\'s '
                f'config: {reason}. Nothing was trained. To resume it '
                'anyway, '
                'with this run\'s config deciding the optimizer settings '
                'and the schedule, add --resume-with-changes (recorded in '
                f'the work dir\'s {RECORD}); to start a new run from its '
                f'weights, drop --resume and pass {load_from}.')
        listed = '\n  '.join(format_change(c) for c in changes)
        silent = (' (and mmengine\'s resume would keep the checkpoint\'s '
                  'optimizer settings and schedule, so a change to them '
                  'would not take effect although the work dir\'s config '
                  'recorded it)' if any(
                      under(c.key, REDERIVED) for c in changes) else '')
        raise CheckpointError(
            f'--resume: {path} was saved with a config that differs from '
            f'this run\'s in {len(changes)} setting(s) that change '
            f'training:\n  {listed}\n'
            f'The resumed run would not be the run that was started{silent}'
            '. Nothing was trained and the work dir is as it '
            'was. To continue the run, resume with the config it was '
            'started with; to continue it with these changes (logged, '
            f'recorded in the work dir\'s {RECORD} and applied, optimizer '
            'and schedule included), add --resume-with-changes; to start '
            f'a new run from its weights, drop --resume and pass '
            f'{load_from}.')
    return ResumeChangesHook(
        path, changes, reason,
        sizes=group_sizes(ckpt.get('optimizer')),
        steps=_scheduler_steps(ckpt.get('param_schedulers')),
        randomness=_reseed(cfg, changes, meta))


def _scheduler_steps(saved: Any) -> List[Tuple[Any, Any]]:
    """``(by_epoch, _global_step)`` of each saved scheduler state, in the
    order ``ParamSchedulerHook`` steps them."""
    if isinstance(saved, Mapping):
        saved = [s for group in saved.values() for s in group]
    if not isinstance(saved, (list, tuple)):
        return []
    return [(s.get('by_epoch'), s.get('_global_step')) for s in saved
            if isinstance(s, Mapping)]


def _reseed(cfg: Config, changes: Optional[List[Change]],
            meta: Mapping) -> Optional[dict]:
    """The run's ``randomness`` when it must replace the checkpoint's seed
    (mmengine's resume re-seeds with the saved one): a ``randomness`` key
    changed, or, without a config to compare, the config's seed differs
    from the saved one."""
    randomness = cfg.get('randomness')
    randomness = dict(randomness) if isinstance(randomness, Mapping) else {}
    if changes is None:
        seed = randomness.get('seed')
        return randomness if seed is not None and seed != meta.get(
            'seed') else None
    if any(c.key.split('.')[0] == 'randomness' for c in changes):
        return randomness
    return None
