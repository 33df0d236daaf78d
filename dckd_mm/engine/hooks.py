# Copyright (c) dckd_mm contributors. All rights reserved.
"""Training hooks that make the DCKD paper's motivation measurable."""
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS
from torch import Tensor, nn

from ..errors import ConfigError, ConfigTypeError

__all__ = ['GradCosineHook', 'gradient_cosine']


def gradient_cosine(loss_a: Tensor, loss_b: Tensor,
                    params: Sequence[nn.Parameter]) -> Tuple[float, int]:
    """Cosine between the gradients of two losses on shared parameters.

    Both gradients are flattened over the parameters that *both* losses
    reach (a parameter one of them does not reach is left out, so the
    cosine is measured where the two objectives can disagree).

    Args:
        loss_a (Tensor): scalar loss (e.g. the feature loss).
        loss_b (Tensor): scalar loss (e.g. the logit loss); the graph of
            both must be alive (``loss_a``'s is retained for ``loss_b``).
        params (Sequence[nn.Parameter]): candidate parameters.

    Returns:
        tuple[float, int]: the cosine in ``[-1, 1]`` (``nan`` if either
        gradient is zero) and the number of shared parameter tensors.
    """
    params = [p for p in params if p.requires_grad]
    ga = torch.autograd.grad(loss_a, params, retain_graph=True,
                             allow_unused=True)
    gb = torch.autograd.grad(loss_b, params, allow_unused=True)
    pairs = [(a, b) for a, b in zip(ga, gb)
             if a is not None and b is not None]
    if not pairs:
        return float('nan'), 0
    va = torch.cat([a.reshape(-1).double() for a, _ in pairs])
    vb = torch.cat([b.reshape(-1).double() for _, b in pairs])
    denom = va.norm() * vb.norm()
    if float(denom) == 0.0:
        return float('nan'), len(pairs)
    return float(va @ vb / denom), len(pairs)


@HOOKS.register_module()
class GradCosineHook(Hook):
    """Record the feature loss and the cosine between the gradients of the
    feature loss and of the logit loss on the student's shared parameters.

    DCKD (Wang et al., PLOS ONE 2025, its Eq. 5) argues that a plain logit
    loss on top of feature distillation pulls the student's features away
    from the teacher's, i.e. that its gradient conflicts with the feature
    loss. Every ``interval`` training iterations this hook re-runs the
    algorithm's ``loss`` on the iteration's batch (after the optimizer
    step; BN running statistics are restored, the optimizer and ``.grad``
    are untouched), takes ``distill.<feature_loss>`` and the sum of the
    ``distill.<name>`` entries named in ``logit_losses``, and writes one
    JSON line per measurement to ``<log_dir>/grad_cosine.jsonl``: ``iter``,
    ``epoch``, ``feature_loss``, ``logit_loss``, ``cosine``. The cosine is
    also put in the message hub as ``train/grad_cosine``.

    Args:
        feature_loss (str): distiller loss name of the feature loss.
            Defaults to ``'loss_feat'``.
        logit_losses (Sequence[str]): distiller loss names of the logit
            loss; those present are summed. Defaults to
            ``('loss_dckd', 'loss_kd', 'loss_dkd')``.
        interval (int): measure every ``interval`` iterations. Defaults
            to 10.
        scope (str): ``'student'`` (default; every trainable student
            parameter both losses reach) or ``'backbone'``.
    """
    priority = 'LOW'

    def __init__(self,
                 feature_loss: str = 'loss_feat',
                 logit_losses: Sequence[str] = ('loss_dckd', 'loss_kd',
                                                'loss_dkd'),
                 interval: int = 10,
                 scope: str = 'student') -> None:
        if isinstance(interval, bool) or not isinstance(interval, int) or \
                interval < 1:
            raise ConfigError(f'interval must be an integer >= 1, got '
                              f'{interval!r}.')
        if scope not in ('student', 'backbone'):
            raise ConfigError("scope must be 'student' or 'backbone', got "
                              f'{scope!r}.')
        self.feature_loss = feature_loss
        self.logit_losses = tuple(logit_losses)
        self.interval = interval
        self.scope = scope
        self.records: List[Dict[str, float]] = []
        self._path: Optional[str] = None

    def before_train(self, runner) -> None:
        self._path = osp.join(runner.log_dir, 'grad_cosine.jsonl')
        open(self._path, 'w').close()

    def _params(self, model: nn.Module) -> List[nn.Parameter]:
        student = getattr(model, 'student', None)
        if student is None:
            raise ConfigTypeError(
                'GradCosineHook needs a distillation algorithm with a '
                f'student, got {type(model).__name__}.')
        module = student.backbone if self.scope == 'backbone' else student
        return [p for p in module.parameters() if p.requires_grad]

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Union[dict, tuple, list, None] = None,
                         outputs: Optional[dict] = None) -> None:
        if data_batch is None or not self.every_n_train_iters(
                runner, self.interval):
            return
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        buffers = {k: v.clone() for k, v in model.named_buffers()}
        try:
            data = model.data_preprocessor(data_batch, True)
            losses = model(**data, mode='loss')
            feat_key = f'distill.{self.feature_loss}'
            logit = [losses[f'distill.{n}'] for n in self.logit_losses
                     if f'distill.{n}' in losses]
            if feat_key not in losses or not logit:
                raise KeyError(
                    f'GradCosineHook: need {feat_key!r} and one of '
                    f'{["distill." + n for n in self.logit_losses]} among '
                    f'the losses, got {sorted(losses)}.')
            feat_loss, logit_loss = losses[feat_key], sum(logit)
            cos, _ = gradient_cosine(feat_loss, logit_loss,
                                     self._params(model))
        finally:
            with torch.no_grad():
                for k, v in model.named_buffers():
                    v.copy_(buffers[k])
        rec = dict(iter=runner.iter + 1, epoch=runner.epoch,
                   feature_loss=float(feat_loss.detach()),
                   logit_loss=float(logit_loss.detach()), cosine=cos)
        self.records.append(rec)
        runner.message_hub.update_scalar('train/grad_cosine', cos)
        if self._path is not None:
            with open(self._path, 'a') as f:
                f.write(json.dumps(rec) + '\n')
