# Copyright (c) dckd_mm contributors. All rights reserved.
"""What ``tools/train.py`` and ``tools/test.py`` do, as functions.

Besides building mmengine's ``Runner``, these functions refuse what would
otherwise run silently wrong: a distillation config without a teacher
checkpoint (a random teacher), a resume from a checkpoint that cannot
resume exactly (weights only, another architecture, another teacher), a
test checkpoint that does not fit the config, paths whose spaces
``--cfg-options`` would drop. Every such refusal is an error of the user's
input (:func:`is_user_error`): the tools print it as ``error: ...`` and
exit with status 2.
"""
import argparse
import os
import os.path as osp
import re
import shutil
import time
import traceback
from typing import Any, Mapping, Optional, Tuple

from mmengine.config import Config, DictAction
from mmengine.runner import Runner

from ..compat.atomic_checkpoints import robust_find_latest
from ..compat.safe_loading import (CorruptCheckpointError,
                                   UntrustedCheckpointError, safe_load)
from ..datasets.cifar import DatasetError
from ..utils.checkpoint import describe_mismatch, extract_state_dict

__all__ = [
    'load_config', 'preflight', 'check_teacher', 'check_loss_options',
    'enable_auto_scale_lr', 'run_train', 'run_test',
    'USER_ERRORS', 'is_user_error', 'CfgOptionsAction', 'add_common_args',
    'report_error', 'tool_exit'
]

# Errors caused by the user's input: the tools print them without a
# traceback and exit with status 2. ``ValueError``/``TypeError`` count too
# when dckd_mm raised them (:func:`is_user_error`).
USER_ERRORS = (DatasetError, FileNotFoundError, UntrustedCheckpointError,
               CorruptCheckpointError)

_PACKAGE_DIR = osp.dirname(osp.dirname(osp.abspath(__file__)))
_UNSET = ('', 'none', 'null')


def _raised_in_dckd_mm(err: BaseException) -> bool:
    """Whether ``err`` (or an exception it was raised from or while
    handling, as mmengine's registry re-raises) comes from dckd_mm's own
    code rather than from a host library."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        frames = traceback.extract_tb(err.__traceback__)
        if frames and osp.abspath(frames[-1].filename).startswith(
                _PACKAGE_DIR + os.sep):
            return True
        err = err.__cause__ or err.__context__
    return False


def is_user_error(err: BaseException) -> bool:
    """Whether ``err`` reports bad input rather than a bug: one of
    :data:`USER_ERRORS`, or a ``ValueError``/``TypeError`` raised by
    dckd_mm's own checks (wrong teacher architecture, ``num_classes``,
    ``tau <= 0``...), also when mmengine's registry re-raised it."""
    if isinstance(err, USER_ERRORS):
        return True
    return isinstance(err, (ValueError, TypeError)) and \
        _raised_in_dckd_mm(err)


class CfgOptionsAction(DictAction):
    """mmengine's ``DictAction`` that refuses a value with a space in it.

    mmengine removes every space from ``--cfg-options`` values, so
    ``model.teacher_ckpt='dir with spaces/t.pth'`` would silently become
    ``dirwithspaces/t.pth``. Spaces around the commas and brackets of a
    list (``a=[1, 2]``) are still fine.
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
    """The options ``tools/train.py`` and ``tools/test.py`` share."""
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
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def load_config(config: str,
                work_dir: Optional[str] = None,
                cfg_options: Optional[dict] = None,
                launcher: str = 'none',
                amp: bool = False,
                teacher_ckpt: Optional[str] = None,
                data_root: Optional[str] = None,
                teacher_from_scratch: bool = False,
                auto_scale_lr: bool = False) -> Config:
    """Read a config and apply the command-line overrides.

    Args:
        config (str): config file.
        work_dir (str, optional): overrides ``work_dir``.
        cfg_options (dict, optional): ``--cfg-options`` overrides.
        launcher (str): ``'none'``, ``'pytorch'``, ``'slurm'`` or
            ``'mpi'``. Without a GPU, a distributed run uses gloo.
        amp (bool): mixed precision (:func:`enable_amp`).
        teacher_ckpt (str, optional): sets ``model.teacher_ckpt``.
        data_root (str, optional): sets ``data_root`` of every dataset of
            the config's dataloaders that has one.
        teacher_from_scratch (bool): allow a distillation config without a
            teacher checkpoint (sets ``teacher_from_scratch=True``).
        auto_scale_lr (bool): scale the learning rate by the total batch
            size over the config's ``auto_scale_lr.base_batch_size``
            (mmengine's automatic LR scaling, :func:`enable_auto_scale_lr`).

    Raises:
        FileNotFoundError: no config file.
        ValueError: ``teacher_ckpt`` for a config without a teacher,
            ``data_root`` for one whose datasets take none, or
            ``auto_scale_lr`` for one without ``auto_scale_lr``.
    """
    if not osp.isfile(config):
        raise FileNotFoundError(f'config file {config} does not exist.')
    cfg = Config.fromfile(config)
    cfg.launcher = launcher
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(config))[0])
    if launcher == 'none' and not cfg.get('experiment_name'):
        # mmengine names its logger and visualizer instances after the
        # config and the second the run starts; two runs of one config in
        # one process within a second would share them (and the first
        # run's, possibly removed, work dir)
        cfg.experiment_name = (f'{osp.splitext(osp.basename(config))[0]}_'
                               f'{time.time_ns()}')
        # mmdet's default_runtime names its visualizer 'visualizer', which
        # would keep it shared across runs whatever the experiment name
        if isinstance(cfg.get('visualizer'), Mapping) and \
                cfg.visualizer.get('name') is not None:
            cfg.visualizer.name = cfg.experiment_name
    if teacher_ckpt is not None:
        if not _is_distillation(cfg):
            raise ValueError(
                f'--teacher-ckpt: {config} has no teacher (no model.teacher '
                'in the config).')
        cfg.model.teacher_ckpt = teacher_ckpt
    if data_root is not None:
        _set_data_root(cfg, data_root, config)
    if teacher_from_scratch:
        cfg.teacher_from_scratch = True
    if launcher != 'none':
        _cpu_backend(cfg)
    if amp:
        enable_amp(cfg)
    if auto_scale_lr:
        enable_auto_scale_lr(cfg, config)
    return cfg


def enable_auto_scale_lr(cfg: Config, config: str = 'the config') -> None:
    """Turn on mmengine's automatic LR scaling (``--auto-scale-lr``).

    mmengine's Runner then multiplies the learning rate by the real total
    batch size (GPUs x ``train_dataloader.batch_size``) over
    ``auto_scale_lr.base_batch_size``, the batch size the config's
    learning rate was set for.

    Raises:
        ValueError: the config sets no ``auto_scale_lr.base_batch_size``.
    """
    scale = cfg.get('auto_scale_lr')
    if not isinstance(scale, Mapping) or 'base_batch_size' not in scale:
        raise ValueError(
            f'--auto-scale-lr: {config} sets no auto_scale_lr = '
            'dict(base_batch_size=N), the total batch size its learning '
            'rate was tuned for, so there is nothing to scale from. Add it '
            'to the config (or pass --cfg-options '
            'auto_scale_lr.base_batch_size=N), or drop --auto-scale-lr.')
    scale['enable'] = True


def _set_data_root(cfg: Config, data_root: str, config: str) -> None:
    changed = 0
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset = (cfg.get(key) or {}).get('dataset')
        if isinstance(dataset, Mapping) and 'data_root' in dataset:
            dataset['data_root'] = data_root
            changed += 1
    if not changed:
        raise ValueError(
            f'--data-root: no dataset of {config} takes a data_root (its '
            'data is built in, or set through another key).')


def _cpu_backend(cfg: Config) -> None:
    """Without a GPU, a distributed run uses gloo (NCCL needs GPUs)."""
    import torch
    if torch.cuda.is_available():
        return
    env = cfg.setdefault('env_cfg', {})
    dist_cfg = env.setdefault('dist_cfg', {})
    if dist_cfg.get('backend', 'nccl') == 'nccl':
        dist_cfg['backend'] = 'gloo'


def enable_amp(cfg: Config) -> None:
    """Mixed precision: fp16 with dynamic loss scaling on GPU, bf16 on CPU
    (no loss scaling needed).

    Raises:
        ValueError: a detection config (``default_scope='mmdet'``) on CPU:
            mmcv's ``nms`` and ``RoIAlign`` have no bfloat16 CPU kernels.
            On GPU, detection uses mmdet's own AMP path (mmdet casts the
            RoIs to the features' dtype for mmcv's fp16 kernels).
    """
    import torch
    optim = cfg.optim_wrapper
    if not torch.cuda.is_available() and cfg.get('default_scope') == 'mmdet':
        raise ValueError(
            '--amp without a GPU would train the detector in bfloat16 on '
            'the CPU, and mmcv\'s nms and RoIAlign have no bfloat16 CPU '
            'kernels (they fail with "expected scalar type Float but found '
            'BFloat16"). Drop --amp on CPU; on a GPU, --amp trains in fp16 '
            'with dynamic loss scaling.')
    if optim.get('type', 'OptimWrapper') == 'AmpOptimWrapper':
        return
    if torch.cuda.is_available():
        optim.type = 'AmpOptimWrapper'
        optim.loss_scale = 'dynamic'
    else:
        optim.type = 'CPUBF16OptimWrapper'


def _is_distillation(cfg: Config) -> bool:
    model = cfg.get('model')
    return isinstance(model, Mapping) and (
        'teacher' in model or 'teacher_ckpt' in model)


def _unset(value: Any) -> bool:
    return value is None or (isinstance(value, str) and
                             value.strip().lower() in _UNSET)


def check_teacher(cfg: Config) -> None:
    """A distillation config must name its teacher checkpoint.

    An empty or ``None`` ``model.teacher_ckpt`` (say, an unset shell
    variable) would distil from a randomly initialised teacher. That is
    refused unless the config sets ``teacher_from_scratch=True``
    (``--teacher-from-scratch``).

    Raises:
        ValueError: no teacher checkpoint, or both one and the switch.
    """
    if not _is_distillation(cfg):
        return
    ckpt = cfg.model.get('teacher_ckpt')
    scratch = bool(cfg.get('teacher_from_scratch', False))
    if _unset(ckpt) and not scratch:
        raise ValueError(
            f'model.teacher_ckpt is {ckpt!r}: the teacher would be randomly '
            'initialised. Pass the trained teacher with --teacher-ckpt PATH '
            '(or --cfg-options model.teacher_ckpt=PATH); if a random or '
            'jointly trained teacher is really intended, add '
            '--teacher-from-scratch.')
    if not _unset(ckpt) and scratch:
        raise ValueError(
            f'--teacher-from-scratch and model.teacher_ckpt={ckpt!r} '
            'contradict each other: drop one of them.')
    if _unset(ckpt):
        cfg.model.teacher_ckpt = None


_NON_NEGATIVE = ('loss_weight', 'alpha', 'beta')


def check_loss_options(cfg: Config) -> None:
    """Refuse a negative or non-finite ``loss_weight`` (any loss of the
    model) or ``alpha``/``beta`` (a ``DCKDLoss``): a negative weight turns
    distillation into anti-distillation without any other sign.

    Raises:
        ValueError: naming the config key and the value.
    """
    import math

    def walk(node: Any, where: str) -> None:
        if isinstance(node, Mapping):
            is_dckd = str(node.get('type', '')).split('.')[-1] == 'DCKDLoss'
            for key in _NON_NEGATIVE:
                value = node.get(key)
                if key != 'loss_weight' and not is_dckd:
                    continue
                if isinstance(value, (int, float)) and not isinstance(
                        value, bool) and not (math.isfinite(value)
                                              and value >= 0):
                    raise ValueError(
                        f'{where}.{key} = {value}: loss weights must be '
                        'finite and >= 0 (a negative weight pushes the '
                        'student away from the teacher).')
            for key, value in node.items():
                walk(value, f'{where}.{key}')
        elif isinstance(node, (list, tuple)):
            for i, value in enumerate(node):
                walk(value, f'{where}[{i}]')

    walk(cfg.get('model'), 'model')


def preflight(cfg: Config, splits: tuple = ('train_dataloader',
                                            'val_dataloader')) -> None:
    """Fail fast, before the Runner is built, on a missing teacher
    checkpoint or a missing CIFAR-100 folder."""
    from ..datasets.cifar import SafeCIFAR100
    model = cfg.get('model', {})
    ckpt = model.get('teacher_ckpt') if isinstance(model, dict) else None
    if ckpt and not osp.isfile(osp.expanduser(ckpt)):
        source = (
            'Use an mmdet checkpoint of the teacher detector trained on COCO '
            '(mmdet\'s model zoo, or train it with its mmdet config)'
            if cfg.get('default_scope') == 'mmdet' else
            'Train the teacher with its config under configs/zoo/, or '
            'convert a RepDistiller/SimKD file with '
            'tools/model_converters/convert_repdistiller_ckpt.py')
        raise FileNotFoundError(
            f'teacher checkpoint {ckpt!r} (config key model.teacher_ckpt) '
            f'does not exist. {source}, then pass --teacher-ckpt PATH (or '
            '--cfg-options model.teacher_ckpt=PATH).')
    if cfg.get('default_scope') == 'mmdet':
        check_mmcv_cuda()
    for key in splits:
        dataset = (cfg.get(key) or {}).get('dataset', {})
        if dataset.get('type') == 'SafeCIFAR100':
            SafeCIFAR100.check_files(
                dataset.get('data_root', 'data/cifar100'),
                dataset.get('split', 'train'))
        elif dataset.get('type') == 'ImageNet':
            check_imagenet(dataset)
        elif str(dataset.get('type', '')).split('.')[-1] == 'CocoDataset':
            check_coco(dataset)


def check_mmcv_cuda() -> None:
    """On a machine with a GPU, a detector runs mmcv's nms and RoIAlign on
    it: refuse at once when mmcv's ops were built without CUDA (as
    ``make venv`` builds them on a machine without the CUDA toolkit)
    instead of failing at the first RPN step.

    Raises:
        RuntimeError: naming the mmcv build and what to do.
    """
    import torch
    if not torch.cuda.is_available():
        return
    from mmcv.ops import get_compiling_cuda_version
    if get_compiling_cuda_version() == 'not available':
        raise RuntimeError(
            'this machine has a GPU but mmcv\'s compiled ops were built '
            'without CUDA, so the detector\'s nms and RoIAlign cannot run '
            'on it. Rebuild mmcv with CUDA ops on a machine with the CUDA '
            'toolkit (FORCE_CUDA=1 in .dev_scripts/build_mmcv.sh), or run '
            'on the CPU with CUDA_VISIBLE_DEVICES="".')


def check_coco(dataset: dict) -> None:
    """:class:`DatasetError` naming COCO's layout if the annotation file or
    the image folder of a ``CocoDataset`` is missing."""
    root = dataset.get('data_root', '')
    ann = osp.join(root, dataset.get('ann_file', ''))
    prefix = dataset.get('data_prefix', {})
    img = osp.join(root, prefix.get('img', '') if isinstance(
        prefix, dict) else prefix)
    missing = [p for p in (ann, img) if not osp.exists(p)]
    if missing:
        raise DatasetError(
            f'COCO data not found: {missing} missing. Expected '
            f'{root}annotations/instances_{{train,val}}2017.json and '
            f'{root}{{train,val}}2017/*.jpg from cocodataset.org (or set '
            'data_root). dckd_mm never downloads data itself.')


def check_imagenet(dataset: dict) -> None:
    """:class:`DatasetError` naming the expected layout if ImageNet's
    split folder (or its annotation file, when one is set) is missing."""
    root = dataset.get('data_root', '')
    split = dataset.get('split', '')
    prefix = dataset.get('data_prefix') or split
    if isinstance(prefix, dict):
        prefix = prefix.get('img_path', '')
    paths = [osp.join(root, prefix)]
    if dataset.get('ann_file'):
        paths.append(osp.join(root, dataset['ann_file']))
    missing = [p for p in paths if not osp.exists(p)]
    if missing:
        raise DatasetError(
            f'ImageNet {split or "data"} not found: {missing} missing. '
            f'Expected {root}/train/<class>/*.JPEG and '
            f'{root}/val/<class>/*.JPEG (or {root}/{{train,val}}/*.JPEG '
            f'with {root}/meta/{{train,val}}.txt lines "path label"), from '
            'image-net.org. dckd_mm never downloads data itself.')


def _resume_checkpoint(cfg: Config, resume: str,
                       start_over: bool) -> Tuple[Optional[str], Any]:
    """The checkpoint ``--resume`` will use and its contents, checked to
    carry what an exact resume needs; ``(None, None)`` to start over."""
    if resume == 'auto':
        path = robust_find_latest(cfg.work_dir) if osp.isdir(
            cfg.work_dir) else None
        if path is None:
            if start_over:
                return None, None
            raise FileNotFoundError(
                f'--resume: {cfg.work_dir} holds no complete checkpoint '
                'with optimizer state to resume from (weights-only best_* '
                'files cannot resume a run). Nothing was trained. To start '
                'from epoch 0, run without --resume or add --start-over.')
    else:
        path = resume
    if not osp.isfile(osp.expanduser(path)):
        raise FileNotFoundError(f'--resume: checkpoint {path} does not '
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
        raise ValueError(
            f'--resume: {path} cannot resume a run: it lacks '
            f'{", ".join(missing)} (a weights-only file such as best_*.pth, '
            'an exported model or a teacher). Resuming from it would reset '
            'the optimizer and move the learning-rate schedule. To start a '
            'new run from its weights, drop --resume and pass '
            f'--cfg-options load_from={path}.')
    return path, ckpt


def _bare_model(runner: Runner) -> Any:
    from mmengine.model import is_model_wrapper
    model = runner.model
    return model.module if is_model_wrapper(model) else model


def _unsaved_teacher(model: Any) -> bool:
    """A model that leaves its frozen teacher out of checkpoints
    (``RoIDCKDDistill(save_teacher=False)``)."""
    return hasattr(model, 'teacher') and not getattr(model, 'save_teacher',
                                                     True)


def _check_fits(state: Mapping, model: Any, path: str, purpose: str,
                need_teacher: bool = True) -> None:
    """Refuse a checkpoint whose keys or shapes do not fit ``model``.

    Teacher weights are not compared when they are not needed (testing
    runs the student alone) or not saved (they come from ``teacher_ckpt``).
    """
    reference = model.state_dict()
    if hasattr(model, 'teacher') and (not need_teacher
                                      or _unsaved_teacher(model)):
        state = {k: v for k, v in state.items()
                 if not k.startswith('teacher.')}
        reference = {k: v for k, v in reference.items()
                     if not k.startswith('teacher.')}
    if 'teacher_fingerprint' in reference and \
            'teacher_fingerprint' not in state:
        # saved before checkpoints carried one; the model fills it in
        state = dict(state, teacher_fingerprint=reference[
            'teacher_fingerprint'])
    detail = describe_mismatch(state, reference)
    if detail:
        raise ValueError(
            f'checkpoint {path} does not fit the model of the config: '
            f'{detail}. {purpose}')


def _check_resumed_teacher(cfg: Config, state: Mapping, model: Any,
                           path: str) -> None:
    """The teacher in a resume checkpoint must equal ``teacher_ckpt`` (the
    model was just built from it): a changed file or flipped bytes are
    reported, never used silently. A checkpoint saved without the teacher
    is checked by the model itself (``RoIDCKDDistill`` compares teacher
    fingerprints when it loads)."""
    ckpt = cfg.model.get('teacher_ckpt')
    if _unset(ckpt) or not hasattr(model, 'teacher'):
        return
    import torch
    ref = {f'teacher.{k}': v for k, v in model.teacher.state_dict().items()}
    if not any(k in state for k in ref):
        return
    differ = [
        k for k, v in ref.items()
        if k not in state or not torch.equal(state[k].cpu(), v.cpu())
    ]
    if differ:
        raise ValueError(
            f'--resume: the teacher in {path} differs from '
            f'model.teacher_ckpt={cfg.model.teacher_ckpt!r} in '
            f'{len(differ)} tensor(s), e.g. {differ[:4]}. Either the '
            'resume checkpoint is damaged or teacher_ckpt is not the file '
            'the run started with. Resume with the original teacher, or '
            'start a new run in another work dir for a new teacher.')


def run_train(cfg: Config, resume: Optional[str] = None,
              start_over: bool = False) -> Runner:
    """Train ``cfg``.

    Args:
        cfg (Config): from :func:`load_config`.
        resume (str, optional): ``'auto'`` (latest resumable checkpoint of
            the work dir) or a checkpoint path.
        start_over (bool): with ``resume='auto'``, start from epoch 0 when
            the work dir holds nothing to resume; otherwise that is an
            error.

    Raises:
        FileNotFoundError: missing teacher, data or resume checkpoint.
        ValueError: no teacher checkpoint for a distillation config; a
            resume checkpoint without optimizer state, for another model or
            with another teacher.
    """
    created = not osp.exists(cfg.work_dir)
    runner = None
    try:
        check_teacher(cfg)
        check_loss_options(cfg)
        preflight(cfg)
        path = ckpt = None
        if resume is None and cfg.get('resume'):  # set in the config
            resume = cfg.get('load_from') or 'auto'
        if resume is not None:
            path, ckpt = _resume_checkpoint(cfg, resume, start_over)
        cfg.resume = path is not None
        if path is not None:
            cfg.load_from = path
        runner = Runner.from_cfg(cfg)
        if ckpt is not None:
            state = extract_state_dict(ckpt)
            del ckpt
            model = _bare_model(runner)
            _check_fits(
                state, model, path, '--resume needs the config the run was '
                'started with; to train another architecture from these '
                'weights, start a new run with load_from.')
            _check_resumed_teacher(cfg, state, model, path)
            del state
        runner.train()
    except BaseException as err:
        # No barrier here: another rank may be inside a collective and
        # would never reach it. This process exits with the error and the
        # launcher ends the others.
        if created and is_user_error(err) and (runner is None
                                               or runner.iter == 0):
            _remove_work_dir(cfg.work_dir)
        raise
    _close_process_group()
    return runner


def run_test(cfg: Config, checkpoint: str,
             out: Optional[str] = None) -> dict:
    """Evaluate ``checkpoint`` with ``cfg``'s test loop.

    Args:
        cfg (Config): from :func:`load_config`.
        checkpoint (str): the checkpoint to score; it must fit the model.
        out (str, optional): also dump the predictions (one dict per test
            sample) to this ``.pkl`` file, with mmengine's ``DumpResults``
            metric appended to the test evaluator, as mmpretrain's
            ``tools/test.py --out`` does.

    Raises:
        FileNotFoundError: no checkpoint file (or test data).
        ValueError: the checkpoint does not fit the config's model (the
            message lists the missing, unexpected and misshapen keys), or
            ``out`` is not a ``.pkl``/``.pickle`` file.
    """
    created = not osp.exists(cfg.work_dir)
    try:
        if out is not None and not out.endswith(('.pkl', '.pickle')):
            raise ValueError(
                f'--out {out}: the predictions are dumped as a pickle; '
                'name a file ending in .pkl (or .pickle).')
        if not osp.isfile(osp.expanduser(checkpoint)):
            raise FileNotFoundError(
                f'checkpoint {checkpoint} does not exist.')
        if _is_distillation(cfg):
            # predict mode runs the student alone and the checkpoint holds
            # every weight it needs: no teacher file to find or load
            cfg.model.teacher_ckpt = None
        preflight(cfg, ('test_dataloader', ))
        state = extract_state_dict(safe_load(checkpoint, map_location='cpu'))
        cfg.load_from = checkpoint
        runner = Runner.from_cfg(cfg)
        _check_fits(
            state, _bare_model(runner), checkpoint,
            'Test it with the config it was trained with (an exported '
            'student with the config written beside it).',
            need_teacher=False)
        del state
        if out is not None:
            _dump_predictions(runner, out)
        metrics = runner.test()
    except BaseException as err:
        if created and is_user_error(err):
            _remove_work_dir(cfg.work_dir)
        raise
    _close_process_group()
    return metrics


def _dump_predictions(runner: Runner, out: str) -> None:
    """Append mmengine's ``DumpResults`` to the test evaluator: the test
    loop then writes every prediction to ``out``."""
    from mmengine.evaluator import DumpResults
    evaluator = runner.test_evaluator
    if evaluator is None:
        raise ValueError(f'--out {out}: the config has no test_evaluator.')
    out = osp.abspath(osp.expanduser(out))
    if osp.dirname(out):
        os.makedirs(osp.dirname(out), exist_ok=True)
    evaluator.metrics.append(DumpResults(out_file_path=out))


def _remove_work_dir(work_dir: str) -> None:
    """Remove a work dir this run created and never used (logs of a run
    that did not start), so a failed command leaves nothing behind."""
    shutil.rmtree(work_dir, ignore_errors=True)


def _close_process_group() -> None:
    """After a successful run: wait for every rank, then destroy the
    process group before the interpreter exits (mmengine never does, and
    gloo's threads still running during interpreter teardown abort the
    process now and then). Never called on an error path."""
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def report_error(err: BaseException) -> int:
    """Print what went wrong and return the tool's exit status: a user
    error (:func:`is_user_error`) as one line ``error: ...`` and status 2,
    anything else (a bug) with its traceback and status 1."""
    import sys
    if is_user_error(err):
        print(f'error: {err}', file=sys.stderr, flush=True)
        return 2
    traceback.print_exception(err, file=sys.stderr)
    sys.stderr.flush()
    return 1


def tool_exit(code: int) -> None:
    """End a tool. In a distributed run that failed, exit at once: other
    ranks may sit in a collective, and interpreter teardown with a live
    process group can block or abort. Otherwise return normally."""
    import sys

    import torch.distributed as dist
    if code != 0 and dist.is_available() and dist.is_initialized():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
