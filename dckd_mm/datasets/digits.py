# Copyright (c) dckd_mm contributors. All rights reserved.
"""scikit-learn's digits as mmpretrain datasets: the embedded benchmarks.

1,797 grey 8x8 images of the digits 0-9 ship inside scikit-learn, so the
demo and tests run offline. A fixed stratified split (seed 0) gives 1,437
training and 360 test images.

- ``DigitsDataset`` (10 classes): images upscaled to 32x32 (bilinear),
  scaled from 0-16 to 0-255 and repeated to 3 channels (HWC uint8, as
  mmpretrain's ``LoadImageFromFile`` would give).
- ``Digits100Dataset`` (100 classes, ``digits100``): class ``10a + b`` is an
  image of digit ``a`` beside an image of digit ``b`` in a 16x16 frame.
  Train composites are drawn only from the train split and test composites
  only from the test split, deterministically from a seed.
"""
from typing import List, Optional, Tuple

import numpy as np
from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS

from ..errors import ConfigError

__all__ = [
    'DigitsDataset', 'Digits100Dataset', 'load_digits_split',
    'make_digit_pairs'
]

_CACHE: dict = {}


def _check_split(split: str) -> None:
    if split not in ('train', 'test'):
        raise ConfigError(f"split must be 'train' or 'test', got {split!r}.")


def _raw_split(split: str, seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """The 8x8 images (values 0-16, float64) and labels of one side of the
    stratified 80/20 split of scikit-learn's digits."""
    _check_split(split)
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    digits = load_digits()
    idx = np.arange(len(digits.target))
    train_idx, test_idx = train_test_split(
        idx, test_size=0.2, random_state=seed, stratify=digits.target)
    sel = train_idx if split == 'train' else test_idx
    return digits.images[sel], digits.target[sel].astype(np.int64)


def load_digits_split(split: str, size: int = 32, seed: int = 0):
    """Images ``(N, size, size, 3)`` uint8 and labels ``(N,)`` int64."""
    _check_split(split)
    key = (split, size, seed)
    if key not in _CACHE:
        import torch
        import torch.nn.functional as F
        images, labels = _raw_split(split, seed)
        x = torch.from_numpy(images.astype(np.float32))[:, None]
        x = F.interpolate(
            x, size=(size, size), mode='bilinear', align_corners=False)
        x = (x / 16.0 * 255.0).clamp(0, 255).round().to(torch.uint8)
        imgs = x.repeat(1, 3, 1, 1).permute(0, 2, 3, 1).contiguous().numpy()
        _CACHE[key] = (imgs, labels)
    return _CACHE[key]


def make_digit_pairs(split: str, num: int,
                     seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """Two-digit composites: ``num`` images ``(num, 16, 16, 3)`` uint8 and
    labels ``(num,)`` int64 in ``[0, 100)``.

    Sample ``i`` has class ``c = i % 100`` (so any prefix of ``100 k``
    samples holds ``k`` of each class); its image puts a random ``split``
    image of digit ``c // 10`` (left) beside a random ``split`` image of
    digit ``c % 10`` (right), rows 4-11 of a black 16x16 frame. The
    sources are drawn with ``numpy.random.default_rng([seed, split])``
    from the digits split of :func:`load_digits_split`, so train and test
    composites never share a source image and the same arguments always
    give the same data.
    """
    _check_split(split)
    if isinstance(num, bool) or not isinstance(num, int) or num < 1:
        raise ConfigError(f'num must be a positive integer, got {num!r}.')
    key = ('pairs', split, num, seed)
    if key not in _CACHE:
        images, labels = _raw_split(split)
        pools = [np.flatnonzero(labels == d) for d in range(10)]
        rng = np.random.default_rng([seed, 0 if split == 'train' else 1])
        classes = np.arange(num, dtype=np.int64) % 100
        # one draw after the other per sample: a shorter set is a prefix
        src = np.array([(rng.choice(pools[c // 10]),
                         rng.choice(pools[c % 10])) for c in classes])
        left, right = src[:, 0], src[:, 1]
        frame = np.zeros((num, 16, 16), dtype=np.float64)
        frame[:, 4:12, :8] = images[left]
        frame[:, 4:12, 8:] = images[right]
        x = np.clip(np.round(frame / 16.0 * 255.0), 0, 255).astype(np.uint8)
        imgs = np.ascontiguousarray(np.repeat(x[..., None], 3, axis=3))
        _CACHE[key] = (imgs, classes)
    return _CACHE[key]


@DATASETS.register_module()
class DigitsDataset(BaseDataset):
    """scikit-learn digits in mmpretrain's dataset contract.

    Args:
        split (str): ``'train'`` (1,437 images) or ``'test'`` (360).
        image_size (int): side of the upscaled images. Defaults to 32.
        **kwargs: :class:`mmpretrain.datasets.BaseDataset` arguments
            (``pipeline``, ``test_mode``...). ``data_root`` is unused; use
            ``indices=N`` to keep the first ``N`` images.
    """
    METAINFO = {'classes': tuple(str(i) for i in range(10))}

    def __init__(self,
                 split: str = 'train',
                 image_size: int = 32,
                 **kwargs) -> None:
        _check_split(split)
        self.split = split
        self.image_size = image_size
        kwargs.setdefault('data_root', '')
        kwargs.setdefault('ann_file', '')
        super().__init__(**kwargs)

    def load_data_list(self) -> List[dict]:
        imgs, labels = load_digits_split(self.split, self.image_size)
        return [
            dict(img=imgs[i], gt_label=int(labels[i]))
            for i in range(len(labels))
        ]


@DATASETS.register_module()
class Digits100Dataset(BaseDataset):
    """``digits100``: 100 classes of two-digit composites, 16x16 images.

    Class ``10a + b`` shows digit ``a`` beside digit ``b`` (see
    :func:`make_digit_pairs`). Built in memory from scikit-learn's digits,
    deterministic, no download. Use mmengine's ``indices=N`` to keep the
    first ``N`` samples (``N / 100`` per class when ``N`` is a multiple of
    100): the benchmark's students see few labels, the teacher all.

    Args:
        split (str): ``'train'`` (composites of the 1,437 train digits) or
            ``'test'`` (of the 360 test digits).
        num_samples (int, optional): composites to make. Defaults to 8,000
            for ``'train'`` and 3,000 for ``'test'``.
        seed (int): seed of the composition. Defaults to 0.
        **kwargs: :class:`mmpretrain.datasets.BaseDataset` arguments
            (``pipeline``, ``indices``, ``test_mode``...).
    """
    METAINFO = {'classes': tuple(f'{i:02d}' for i in range(100))}
    DEFAULT_SIZES = {'train': 8000, 'test': 3000}

    def __init__(self,
                 split: str = 'train',
                 num_samples: Optional[int] = None,
                 seed: int = 0,
                 **kwargs) -> None:
        _check_split(split)
        self.split = split
        self.num_samples = num_samples or self.DEFAULT_SIZES[split]
        self.seed = seed
        kwargs.setdefault('data_root', '')
        kwargs.setdefault('ann_file', '')
        super().__init__(**kwargs)

    def load_data_list(self) -> List[dict]:
        imgs, labels = make_digit_pairs(self.split, self.num_samples,
                                        self.seed)
        return [
            dict(img=imgs[i], gt_label=int(labels[i]))
            for i in range(len(labels))
        ]
