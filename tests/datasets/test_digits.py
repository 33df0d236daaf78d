# Copyright (c) dckd_mm contributors. All rights reserved.
import numpy as np
import pytest

import dckd_mm  # noqa: F401
from dckd_mm.datasets import DigitsDataset, load_digits_split


def test_fixed_stratified_split():
    x_tr, y_tr = load_digits_split('train')
    x_te, y_te = load_digits_split('test')
    assert x_tr.shape == (1437, 32, 32, 3) and x_te.shape == (360, 32, 32, 3)
    assert x_tr.dtype == np.uint8 and x_tr.max() == 255
    assert np.array_equal(x_tr[..., 0], x_tr[..., 2])
    assert set(np.bincount(y_te)) <= {35, 36, 37}  # stratified
    x2, y2 = load_digits_split('train')
    assert np.array_equal(y_tr, y2)


def test_upscaled_from_the_8x8_originals():
    from sklearn.datasets import load_digits
    digits = load_digits()
    x, y = load_digits_split('train', size=8)
    # at 8x8 the images are the originals rescaled from 0-16 to 0-255
    flat = (digits.images / 16 * 255).round().astype(np.uint8)
    match = [np.where((flat == img[..., 0]).all((1, 2)))[0] for img in x[:5]]
    assert all(len(m) >= 1 and digits.target[m[0]] == lbl
               for m, lbl in zip(match, y[:5]))


def test_dataset_contract():
    ds = DigitsDataset(
        split='test', pipeline=[dict(type='mmpretrain.PackInputs')])
    assert len(ds) == 360 and ds.metainfo['classes'][3] == '3'
    item = ds[0]
    assert tuple(item['inputs'].shape) == (3, 32, 32)
    assert len(DigitsDataset(split='train', max_samples=200)) == 200
    with pytest.raises(ValueError, match='split'):
        load_digits_split('val')
