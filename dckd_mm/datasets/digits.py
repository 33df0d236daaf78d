# Copyright (c) dckd_mm contributors. All rights reserved.
"""scikit-learn's digits as an mmpretrain dataset: the embedded default.

1,797 grey 8x8 images of the digits 0-9 ship inside scikit-learn, so the
demo and tests run offline. A fixed stratified split (seed 0) gives 1,437
training and 360 test images; images are upscaled to 32x32 (bilinear), scaled
from 0-16 to 0-255 and repeated to 3 channels (HWC uint8, as mmpretrain's
``LoadImageFromFile`` would give).
"""
from typing import List, Optional

import numpy as np
from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS

__all__ = ['DigitsDataset', 'load_digits_split']

_CACHE: dict = {}


def load_digits_split(split: str, size: int = 32, seed: int = 0):
    """Images ``(N, size, size, 3)`` uint8 and labels ``(N,)`` int64."""
    if split not in ('train', 'test'):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}.")
    key = (split, size, seed)
    if key not in _CACHE:
        import torch
        import torch.nn.functional as F
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
        digits = load_digits()
        idx = np.arange(len(digits.target))
        train_idx, test_idx = train_test_split(
            idx, test_size=0.2, random_state=seed, stratify=digits.target)
        sel = train_idx if split == 'train' else test_idx
        x = torch.from_numpy(digits.images[sel].astype(np.float32))[:, None]
        x = F.interpolate(
            x, size=(size, size), mode='bilinear', align_corners=False)
        x = (x / 16.0 * 255.0).clamp(0, 255).round().to(torch.uint8)
        imgs = x.repeat(1, 3, 1, 1).permute(0, 2, 3, 1).contiguous().numpy()
        _CACHE[key] = (imgs, digits.target[sel].astype(np.int64))
    return _CACHE[key]


@DATASETS.register_module()
class DigitsDataset(BaseDataset):
    """scikit-learn digits in mmpretrain's dataset contract.

    Args:
        split (str): ``'train'`` (1,437 images) or ``'test'`` (360).
        image_size (int): side of the upscaled images. Defaults to 32.
        max_samples (int, optional): keep the first ``max_samples`` (tests).
        **kwargs: :class:`mmpretrain.datasets.BaseDataset` arguments
            (``pipeline``, ``test_mode``...). ``data_root`` is unused.
    """
    METAINFO = {'classes': tuple(str(i) for i in range(10))}

    def __init__(self,
                 split: str = 'train',
                 image_size: int = 32,
                 max_samples: Optional[int] = None,
                 **kwargs) -> None:
        self.split = split
        self.image_size = image_size
        self.max_samples = max_samples
        kwargs.setdefault('data_root', '')
        kwargs.setdefault('ann_file', '')
        super().__init__(**kwargs)

    def load_data_list(self) -> List[dict]:
        imgs, labels = load_digits_split(self.split, self.image_size)
        n = len(labels) if self.max_samples is None else min(
            self.max_samples, len(labels))
        return [
            dict(img=imgs[i], gt_label=int(labels[i])) for i in range(n)
        ]
