# Copyright (c) dckd_mm contributors. All rights reserved.
"""SimKD's feature loss: MSE between projected student and teacher maps.

Imports torch only; ``SimKDFeatureLoss`` is registered into mmrazor's
``MODELS`` by ``dckd_mm.models.losses``.
"""
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

__all__ = ['align_spatial', 'simkd_feature_loss', 'SimKDFeatureLoss']


def align_spatial(s_feature: Tensor, t_feature: Tensor
                  ) -> tuple:
    """Pool the larger of two ``(N, C, H, W)`` maps to the other's size.

    SimKD (Chen et al., CVPR 2022, ``train_student.py``) average-pools the
    student map when it is larger than the teacher's, else the teacher map.
    """
    if s_feature.dim() != 4 or t_feature.dim() != 4:
        return s_feature, t_feature
    s_hw, t_hw = s_feature.shape[-2:], t_feature.shape[-2:]
    if s_hw == t_hw:
        return s_feature, t_feature
    if s_hw[0] >= t_hw[0] and s_hw[1] >= t_hw[1]:
        return F.adaptive_avg_pool2d(s_feature, t_hw), t_feature
    if s_hw[0] <= t_hw[0] and s_hw[1] <= t_hw[1]:
        return s_feature, F.adaptive_avg_pool2d(t_feature, s_hw)
    raise ValueError(f'cannot align feature maps of spatial sizes '
                     f'{tuple(s_hw)} (student) and {tuple(t_hw)} (teacher).')


def simkd_feature_loss(s_feature: Tensor, t_feature: Tensor) -> Tensor:
    """Mean squared error after spatial alignment; teacher detached.

    Args:
        s_feature (Tensor): projected student feature ``(N, C, H, W)`` or
            ``(N, C)``.
        t_feature (Tensor): teacher feature, same ``N`` and ``C``.

    Returns:
        Tensor: scalar, mean over all elements (``nn.MSELoss()`` as SimKD).
    """
    if s_feature.shape[:2] != t_feature.shape[:2]:
        raise ValueError(
            f'projected student feature {tuple(s_feature.shape)} and teacher '
            f'feature {tuple(t_feature.shape)} differ in batch or channels: '
            "set the projector's out_channels to the teacher's channels.")
    s_feature, t_feature = align_spatial(s_feature, t_feature.detach())
    return F.mse_loss(s_feature, t_feature.to(s_feature.dtype))


class SimKDFeatureLoss(nn.Module):
    """SimKD feature loss (Chen et al., CVPR 2022): MSE of aligned maps.

    Args:
        loss_weight (float): weight. Defaults to 1.0 (the paper's).
    """

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = float(loss_weight)

    def forward(self, s_feature: Tensor, t_feature: Tensor) -> Tensor:
        return self.loss_weight * simkd_feature_loss(s_feature, t_feature)
