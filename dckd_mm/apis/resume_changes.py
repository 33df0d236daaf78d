# Copyright (c) dckd_mm contributors. All rights reserved.
"""Resuming with a changed config (``--resume-with-changes``): the
changes are logged, recorded and really applied.

mmengine 0.10.7's ``Runner.train`` builds the optimizer from the run's
config (and scales its learning rate, ``auto_scale_lr``), builds the
parameter schedulers on it, calls the hooks' ``before_run``, and only then
``load_or_resume``: ``Runner.resume`` loads the checkpoint's optimizer
state, whose ``param_groups`` carry the *old* ``lr``, ``momentum``,
``weight_decay``..., and the schedulers' state, which carries the old
``base_values``, milestones and ``end``. A new learning rate would be
ignored without a word. The train loop then calls ``before_train``.

:class:`ResumeChangesHook` works in these two gaps. ``before_run`` keeps
what the run's config built: every param group's settings (after the
schedulers' first step, as a new run starts) and each scheduler's state.
``before_train`` (after the resume) puts those settings back into the
resumed optimizer (its state, momentum buffers and Adam moments, stays,
unless the optimizer's type changed), gives each scheduler its new state
and replays the steps ``ParamSchedulerHook`` made so far
(:func:`replay_schedule`): the schedule continues exactly where a run
with the new config from the start would be. It does so only when a
setting of the optimizer, the schedule, ``train_cfg`` or ``auto_scale_lr``
changed (or the checkpoint held no config to compare). Model, data and
loop settings need nothing: they are built from the run's config. A
changed ``randomness`` re-seeds (mmengine's resume takes the checkpoint's
seed). Then the hook logs the changes as a warning and appends them to
``resume_changes.jsonl`` in the work dir (:func:`record_changes`).

A schedule that cannot be replayed is refused (``CheckpointError``):
``ReduceOnPlateau``-style schedulers (their steps follow validation
metrics), iteration and epoch schedulers mixed where the epoch length of
the interrupted run cannot be told, or a replay whose step counts differ
from the checkpoint's.
"""
import copy
import datetime
import json
import os.path as osp
import warnings
from collections import defaultdict
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from mmengine.hooks import Hook

from ..errors import CheckpointError
from ..utils.atomic import atomic_write
from .config_diff import Change, format_change

__all__ = [
    'ResumeChangesHook', 'replay_schedule', 'apply_group_settings',
    'record_changes', 'group_sizes', 'under', 'RECORD', 'REDERIVED'
]

# the file in the work dir that lists every resume with changes
RECORD = 'resume_changes.jsonl'
# changes under these keys are re-derived on the resumed optimizer
REDERIVED = ('optim_wrapper', 'param_scheduler', 'train_cfg',
             'auto_scale_lr', 'default_hooks.param_scheduler')


def under(key: str, prefixes: Sequence[str]) -> bool:
    """Whether dotted ``key`` is one of ``prefixes`` or lies under one."""
    return any(key == p or key.startswith(p + '.') for p in prefixes)


def _optimizers(optim_wrapper: Any) -> Dict[Optional[str], Any]:
    """The torch optimizers of an ``OptimWrapper`` (key None) or of each
    wrapper of an ``OptimWrapperDict`` (by name)."""
    from mmengine.optim import OptimWrapperDict
    if isinstance(optim_wrapper, OptimWrapperDict):
        return {name: w.optimizer for name, w in optim_wrapper.items()}
    return {None: optim_wrapper.optimizer}


def _schedulers(param_schedulers: Any) -> List[Any]:
    """The schedulers in the order ``ParamSchedulerHook`` steps them."""
    if param_schedulers is None:
        return []
    if isinstance(param_schedulers, Mapping):
        return [s for group in param_schedulers.values() for s in group]
    return list(param_schedulers)


def group_sizes(optimizer_state: Any) -> Dict[Optional[str], List[int]]:
    """How many parameters each param group of a saved optimizer state
    holds (key None for one optimizer, names for an
    ``OptimWrapperDict``); empty when the state has no param groups.

    Args:
        optimizer_state (Any): a checkpoint's ``'optimizer'`` entry.

    Returns:
        dict: the group sizes by optimizer name.
    """
    def sizes(state: Any) -> Optional[List[int]]:
        groups = state.get('param_groups') if isinstance(
            state, Mapping) else None
        if not isinstance(groups, list):
            return None
        return [len(g.get('params', ())) for g in groups]

    one = sizes(optimizer_state)
    if one is not None:
        return {None: one}
    if not isinstance(optimizer_state, Mapping):
        return {}
    found = {name: sizes(state) for name, state in optimizer_state.items()}
    return {name: s for name, s in found.items() if s is not None}


def apply_group_settings(optimizer: Any, settings: Sequence[Mapping],
                         reset_state: bool = False) -> None:
    """Give each param group of ``optimizer`` the settings of a newly
    built one (every key but ``params``; keys only the old optimizer had
    are dropped).

    Args:
        optimizer (Optimizer): the resumed optimizer, changed in place.
        settings (Sequence[Mapping]): per group, the new settings.
        reset_state (bool): also drop the per-parameter state (momentum
            buffers, moments), for an optimizer of another type.

    Raises:
        CheckpointError: the numbers of groups differ.
    """
    if len(settings) != len(optimizer.param_groups):
        raise CheckpointError(
            f'the optimizer has {len(optimizer.param_groups)} parameter '
            f'groups and the new settings {len(settings)}.')
    for group, new in zip(optimizer.param_groups, settings):
        params = group['params']
        group.clear()
        group.update(copy.deepcopy(dict(new)))
        group['params'] = params
    if reset_state:
        optimizer.state = defaultdict(dict)


def replay_schedule(schedulers: Sequence[Any], epochs: int, iters: int,
                    iters_per_epoch: Optional[int]) -> None:
    """Step ``schedulers`` as ``ParamSchedulerHook`` did in a run that has
    trained ``iters`` iterations over ``epochs`` epochs: after every
    iteration each iteration-based scheduler, after every epoch each
    epoch-based one, in list order.

    Args:
        schedulers (Sequence): mmengine ``_ParamScheduler`` objects, each
            in the state it had when built, on an optimizer whose groups
            hold the values they had then.
        epochs (int): epochs completed (``meta['epoch']``).
        iters (int): iterations completed (``meta['iter']``).
        iters_per_epoch (int, optional): where the epochs ended; needed
            only when both kinds of scheduler are present and ``epochs >
            0``.

    Raises:
        CheckpointError: a scheduler that steps on validation metrics, or
            both kinds of scheduler without ``iters_per_epoch``.
    """
    plateau = [type(s).__name__ for s in schedulers
               if getattr(s, 'need_val_args', False)]
    if plateau:
        raise CheckpointError(
            f'{", ".join(plateau)} steps on validation metrics, which a '
            'resume cannot replay.')
    by_iter = [s for s in schedulers if not s.by_epoch]
    by_epoch = [s for s in schedulers if s.by_epoch]
    if by_iter and by_epoch and epochs and not iters_per_epoch:
        raise CheckpointError(
            'the schedule mixes iteration- and epoch-based schedulers, and '
            f'the epoch length of the interrupted run ({iters} iterations '
            f'in {epochs} epochs) cannot be told.')
    done = 0
    with warnings.catch_warnings():
        # "scheduler.step() before optimizer.step()": no step is trained
        warnings.simplefilter('ignore')
        for it in range(iters if by_iter else 0):
            for scheduler in by_iter:
                scheduler.step()
            if by_epoch and (it + 1) % iters_per_epoch == 0 and \
                    done < epochs:
                for scheduler in by_epoch:
                    scheduler.step()
                done += 1
        for _ in range(epochs - done if by_epoch else 0):
            for scheduler in by_epoch:
                scheduler.step()


def record_changes(work_dir: str, entry: Mapping) -> str:
    """Append ``entry`` as one JSON line to ``work_dir/resume_changes.jsonl``
    (the file is rewritten all or nothing).

    Args:
        work_dir (str): the run's work dir.
        entry (Mapping): what to record; values JSON can hold.

    Returns:
        str: the file's path.
    """
    path = osp.join(work_dir, RECORD)
    old = b''
    if osp.isfile(path):
        with open(path, 'rb') as f:
            old = f.read()
        if old and not old.endswith(b'\n'):
            old += b'\n'
    line = json.dumps(entry, sort_keys=True).encode('utf-8') + b'\n'
    atomic_write(path, lambda f: f.write(old + line))
    return path


class ResumeChangesHook(Hook):
    """Apply the config changes accepted with ``--resume-with-changes``
    (see the module's docstring). Installed by ``run_train``, not built
    from a config.

    Args:
        path (str): the resumed checkpoint.
        changes (list[Change], optional): the changed keys; None when the
            checkpoint held no config to compare with.
        reason (str, optional): why the configs could not be compared.
        sizes (dict): the checkpoint's param-group sizes
            (:func:`group_sizes`).
        steps (list): per saved scheduler, ``(by_epoch, _global_step)``.
        randomness (dict, optional): the run's ``randomness`` to re-seed
            with; None keeps mmengine's choice (the checkpoint's seed).
    """

    priority = 'VERY_HIGH'

    def __init__(self,
                 path: str,
                 changes: Optional[List[Change]],
                 reason: Optional[str] = None,
                 sizes: Optional[Dict[Optional[str], List[int]]] = None,
                 steps: Optional[List[Tuple[Any, Any]]] = None,
                 randomness: Optional[dict] = None) -> None:
        self.path = path
        self.changes = changes
        self.reason = reason
        self.sizes = sizes or {}
        self.steps = steps or []
        self.randomness = randomness
        self.rederive = changes is None or any(
            under(c.key, REDERIVED) for c in changes)
        self.new_type = changes is not None and any(
            c.key.startswith('optim_wrapper.') and
            c.key.endswith('optimizer.type') for c in changes)
        self._settings: Dict[Optional[str], List[dict]] = {}
        self._states: List[dict] = []

    def before_run(self, runner: Any) -> None:
        """Keep what the run's config built, before mmengine's resume
        overwrites it; refuse param groups the saved state cannot fill."""
        optimizers = _optimizers(runner.optim_wrapper)
        for name, saved in self.sizes.items():
            opt = optimizers.get(name)
            now = [len(g['params']) for g in opt.param_groups] if opt else None
            if now != saved:
                raise CheckpointError(
                    f'--resume-with-changes: the optimizer state of '
                    f'{self.path} has parameter groups of {saved} '
                    f'parameters, the optimizer of this config {now} (its '
                    'paramwise_cfg or constructor changed): the state '
                    'cannot be mapped onto it. Resume with the original '
                    'optim_wrapper, or start a new run from the weights '
                    f'with --cfg-options load_from={self.path}.')
        self._settings = {
            name: [{k: copy.deepcopy(v) for k, v in g.items() if k != 'params'}
                   for g in opt.param_groups]
            for name, opt in optimizers.items()}
        self._states = [copy.deepcopy(s.state_dict())
                        for s in _schedulers(runner.param_schedulers)]

    def before_train(self, runner: Any) -> None:
        """After mmengine's resume: apply, log and record the changes."""
        if self.rederive:
            self._rederive(runner)
        if self.randomness is not None:
            randomness = dict(self.randomness)
            if randomness.get('seed') is None:
                randomness['seed'] = runner.seed
            runner._randomness_cfg = randomness
            runner.set_randomness(**randomness)
        self._report(runner)

    def _rederive(self, runner: Any) -> None:
        optimizers = _optimizers(runner.optim_wrapper)
        for name, opt in optimizers.items():
            apply_group_settings(opt, self._settings[name], self.new_type)
        schedulers = _schedulers(runner.param_schedulers)
        for scheduler, state in zip(schedulers, self._states):
            scheduler.load_state_dict(copy.deepcopy(state))
        epochs, iters = runner.epoch, runner.iter
        try:
            replay_schedule(schedulers, epochs, iters,
                            self._iters_per_epoch(runner, epochs, iters))
        except CheckpointError as err:
            raise CheckpointError(
                f'--resume-with-changes: the schedule cannot be continued '
                f'from {self.path}: {err} Resume with the original config, '
                'or start a new run from the weights with --cfg-options '
                f'load_from={self.path}.') from err
        replayed = [(s.by_epoch, s._global_step) for s in schedulers]
        same_kinds = len(replayed) == len(self.steps) and all(
            a[0] == b[0] for a, b in zip(replayed, self.steps))
        if same_kinds and replayed != self.steps:
            raise CheckpointError(
                f'--resume-with-changes: replaying the schedule of '
                f'{self.path} gives scheduler steps {replayed}, the '
                f'checkpoint recorded {self.steps} (by_epoch, steps): the '
                'run did not step its schedulers as ParamSchedulerHook '
                'does. Resume with the original config, or start a new '
                f'run with --cfg-options load_from={self.path}.')

    def _iters_per_epoch(self, runner: Any, epochs: int,
                         iters: int) -> Optional[int]:
        """The interrupted run's epoch length: the train loader's, when
        the data did not change and it fits ``iters``; else ``iters /
        epochs`` when that is whole (a checkpoint at an epoch's end)."""
        if not epochs:
            return None
        data_changed = self.changes is None or any(
            under(c.key, ('train_dataloader', )) for c in self.changes)
        if not data_changed:
            length = len(runner.train_dataloader)
            if epochs * length <= iters < (epochs + 1) * length:
                return length
        return iters // epochs if iters % epochs == 0 else None

    def _report(self, runner: Any) -> None:
        from mmengine.dist import is_main_process
        if self.changes is None:
            what = [f'the config could not be compared ({self.reason})']
        else:
            what = [format_change(c) for c in self.changes]
        applied = ('the optimizer settings and the schedule follow this '
                   'config' if self.rederive else
                   'the optimizer and the schedule needed no change')
        path = osp.join(runner.work_dir, RECORD)
        runner.logger.warning(
            f'--resume-with-changes: resuming {self.path} (epoch '
            f'{runner.epoch}, iter {runner.iter}) with a config that '
            'differs from the one it was saved with:\n  ' +
            '\n  '.join(what) + f'\n{applied}; recorded in {path}.')
        if not is_main_process():
            return
        record_changes(runner.work_dir, dict(
            time=datetime.datetime.now().astimezone().isoformat(),
            checkpoint=osp.abspath(self.path),
            epoch=runner.epoch,
            iter=runner.iter,
            compared=self.changes is not None,
            reason=self.reason,
            changes=[dict(key=c.key, old=repr(c.old), new=repr(c.new))
                     for c in self.changes or ()],
            rederived=self.rederive))
