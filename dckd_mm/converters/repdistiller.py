# Copyright (c) dckd_mm contributors. All rights reserved.
"""RepDistiller / CRD / mdistiller / SimKD checkpoint files -> mmpretrain,
exactly or not at all.

:func:`convert_file` maps the keys (:mod:`.keymaps`), loads the result
strictly into the zoo model and compares its logits with the upstream
computation rebuilt from the source tensors (:mod:`.upstream`,
:mod:`.verify`) on one random batch; any difference is a
:class:`ConversionError` and nothing is returned. What converts and what is
refused, per family and upstream format: ``docs/simkd_students.md``; the
reference models' facts: ``docs/reference_models.md``.
"""
from collections import OrderedDict
from typing import Any, Callable, Dict, Mapping, NamedTuple, Optional

import torch
from torch import Tensor

from ..errors import ConversionError
from ..models.builder import build_model
from ..models.zoo import CIFAR_ZOO, cifar_classifier_cfg, simkd_student_cfg
from .keymaps import convert_repdistiller, strip_prefixes
from .loading import load_foreign_checkpoint, source_state_dict
from .result import ConversionResult
from .upstream import upstream_forward, upstream_simkd_logits
from .verify import check_exact, check_num_classes, check_projector, self_check

__all__ = ['convert_file']

_SOURCE_META = ('epoch', 'best_acc', 'accuracy')


class _Plan(NamedTuple):
    """A converted state dict, the model it is for, a name for messages
    and the upstream logits to compare with."""
    state_dict: Dict[str, Tensor]
    model_cfg: dict
    what: str
    reference: Callable[[Tensor], Tensor]


def _check_arch(arch: str, what: str = 'arch') -> None:
    if arch not in CIFAR_ZOO:
        raise ConversionError(f'unknown {what} {arch!r}; choose one of '
                              f'{sorted(CIFAR_ZOO)}.')


def _source_meta(ckpt: Mapping[str, Any], src: str, arch: str) -> dict:
    """``meta`` of the converted file: its source, and the source's epoch
    and accuracy when it records them."""
    meta: dict = dict(source=src, arch=arch, converter='dckd_mm')
    for key in _SOURCE_META:
        if key in ckpt:
            value = ckpt[key]
            meta[key] = float(value) if isinstance(value, Tensor) and \
                value.numel() == 1 else value
    return meta


def _plain_classifier(state: Mapping[str, Tensor], arch: str,
                      num_classes: int) -> _Plan:
    """A RepDistiller/CRD/mdistiller classifier: its own classifier."""

    def reference(x: Tensor) -> Tensor:
        return upstream_forward(state, arch, x)[1]

    return _Plan(convert_repdistiller(state, arch),
                 cifar_classifier_cfg(arch, num_classes), arch, reference)


def _simkd_student(state: Mapping[str, Tensor], arch: str, proj: Any,
                   src: str, teacher_src: Optional[str],
                   teacher_arch: Optional[str], num_classes: int) -> _Plan:
    """A SimKD student: its backbone and projector, and the teacher's
    classifier (the deployed student reuses it)."""
    if not (teacher_src and teacher_arch):
        raise ConversionError(
            f"{src} is a SimKD student (it has 'proj'): its classifier "
            'is the teacher\'s, so pass --teacher TEACHER.pth '
            '--teacher-arch NAME too.')
    _check_arch(teacher_arch, 'teacher arch')
    if not isinstance(proj, Mapping):
        raise ConversionError(f"{src}: 'proj' is a "
                              f'{type(proj).__name__}, not a state dict.')
    proj = strip_prefixes(proj)
    t_state = strip_prefixes(
        source_state_dict(load_foreign_checkpoint(teacher_src)))
    t_out = convert_repdistiller(t_state, teacher_arch)
    check_exact(
        t_out,
        build_model(cifar_classifier_cfg(teacher_arch,
                                         num_classes)).state_dict(),
        f'teacher {teacher_arch}')
    try:
        cfg = simkd_student_cfg(arch, teacher_arch, num_classes)
    except ValueError as err:
        raise ConversionError(f'{err} Nothing was written.') from err
    check_projector(proj, arch, t_out, teacher_arch, src)
    out = convert_repdistiller(state, arch, proj)
    # the student's own (unused) classifier is dropped ...
    out = OrderedDict((k, v) for k, v in out.items()
                      if not k.startswith('head.fc.'))
    # ... and the teacher's is used.
    out['head.fc.weight'] = t_out['head.fc.weight']
    out['head.fc.bias'] = t_out['head.fc.bias']
    # SimKD pools a larger student map to the teacher's feat[-2] size
    t_side = int(upstream_forward(t_state, teacher_arch,
                                  torch.zeros(1, 3, 32, 32))[0].shape[-1])
    out['head.target_hw'] = torch.tensor([t_side, t_side])

    def reference(x: Tensor) -> Tensor:
        return upstream_simkd_logits(state, arch, proj, t_state,
                                     teacher_arch, x)

    return _Plan(out, cfg, f'SimKD student {arch} (teacher {teacher_arch})',
                 reference)


def convert_file(src: str, arch: str, num_classes: int = 100,
                 part: Optional[str] = None,
                 teacher_src: Optional[str] = None,
                 teacher_arch: Optional[str] = None) -> ConversionResult:
    """Convert ``src`` exactly, or refuse.

    A SimKD student file (with ``'proj'``) needs the teacher's file and
    arch: the deployed student uses the teacher's classifier. The result
    is loaded strictly into the zoo model and its logits are compared with
    :func:`upstream_forward` / :func:`upstream_simkd_logits` on the source
    tensors before anything is returned.

    Args:
        src (str): the upstream file.
        arch (str): its CIFAR zoo name.
        num_classes (int): classes of the classifier.
        part (str, optional): ``'student'`` or ``'teacher'`` of an
            mdistiller distiller checkpoint.
        teacher_src (str, optional): a SimKD student's teacher file.
        teacher_arch (str, optional): that teacher's zoo name.

    Returns:
        ConversionResult: the state dict, its model config and ``meta``.

    Raises:
        ConversionError: with what does not match, or ``num_classes`` below
            1; nothing is returned.
    """
    _check_arch(arch)
    check_num_classes(num_classes)
    ckpt = load_foreign_checkpoint(src)
    state = strip_prefixes(source_state_dict(ckpt), part)
    proj = ckpt.get('proj')
    meta = _source_meta(ckpt, src, arch)
    if proj is None:
        plan = _plain_classifier(state, arch, num_classes)
    else:
        plan = _simkd_student(state, arch, proj, src, teacher_src,
                              teacher_arch, num_classes)
        meta.update(teacher_source=teacher_src, teacher_arch=teacher_arch)
    if num_classes == 100:
        meta['dataset_meta'] = _cifar100_meta()
    model = build_model(plan.model_cfg)
    check_exact(plan.state_dict, model.state_dict(),
                f'{plan.what} ({plan.model_cfg["head"]["type"]})')
    model.load_state_dict(plan.state_dict, strict=True)
    meta['self_check_max_abs_diff'] = self_check(model, plan.reference,
                                                 plan.what)
    return ConversionResult(plan.state_dict, plan.model_cfg, meta)


def _cifar100_meta() -> dict:
    """``dataset_meta`` for CIFAR-100: mmpretrain's class names."""
    from mmpretrain.datasets.categories import CIFAR100_CATEGORIES
    return dict(classes=list(CIFAR100_CATEGORIES))
