# Copyright (c) dckd_mm contributors. All rights reserved.
import numpy as np
import pytest

import dckd_mm  # noqa: F401
from dckd_mm.datasets import (Digits100Dataset, DigitsDataset,
                              load_digits_split, make_digit_pairs)


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
    assert len(DigitsDataset(split='train', indices=200)) == 200
    with pytest.raises(ValueError, match='split'):
        load_digits_split('val')


def _source_ids(split):
    """Map each 8x8 original of ``split`` (as bytes) to its indices."""
    from dckd_mm.datasets.digits import _raw_split
    images, _ = _raw_split(split)
    flat = np.clip(np.round(images / 16.0 * 255.0), 0, 255).astype(np.uint8)
    ids = {}
    for i, img in enumerate(flat):
        ids.setdefault(img.tobytes(), []).append(i)
    return ids


def test_digit_pairs_layout_labels_and_sources():
    from dckd_mm.datasets.digits import _raw_split
    x, y = make_digit_pairs('train', 300)
    assert x.shape == (300, 16, 16, 3) and x.dtype == np.uint8
    assert np.array_equal(y, np.arange(300) % 100)  # 3 per class, in order
    assert np.array_equal(x[..., 0], x[..., 1])
    # black frame above and below the two 8x8 digits
    assert (x[:, :4] == 0).all() and (x[:, 12:] == 0).all()
    images, labels = _raw_split('train')
    train_ids, test_ids = _source_ids('train'), _source_ids('test')
    for img, c in zip(x[:, 4:12, :, 0], y):
        left, right = img[:, :8].tobytes(), img[:, 8:].tobytes()
        # each half is a train-split original of the right digit ...
        assert labels[train_ids[left][0]] == c // 10
        assert labels[train_ids[right][0]] == c % 10
    # ... and test composites are made of test originals only
    xt, yt = make_digit_pairs('test', 200)
    train_only = set(train_ids) - set(test_ids)
    for img in xt[:, 4:12, :, 0]:
        for half in (img[:, :8].tobytes(), img[:, 8:].tobytes()):
            assert half in test_ids and half not in train_only


def test_digit_pairs_deterministic_prefix_and_seeded():
    a, ya = make_digit_pairs('train', 8000)
    b, _ = make_digit_pairs('train', 8000)
    assert np.array_equal(a, b)
    p, yp = make_digit_pairs('train', 600)
    assert np.array_equal(p, a[:600]) and np.array_equal(yp, ya[:600])
    other, _ = make_digit_pairs('train', 600, seed=1)
    assert not np.array_equal(other, p)
    with pytest.raises(ValueError, match='num must be'):
        make_digit_pairs('train', 0)


def test_digits100_dataset_contract():
    ds = Digits100Dataset(split='train', indices=600,
                          pipeline=[dict(type='mmpretrain.PackInputs')])
    assert len(ds) == 600 and len(ds.metainfo['classes']) == 100
    assert np.bincount([ds.get_data_info(i)['gt_label']
                        for i in range(600)]).tolist() == [6] * 100
    item = ds[57]
    assert tuple(item['inputs'].shape) == (3, 16, 16)
    assert int(item['data_samples'].gt_label) == 57
    assert len(Digits100Dataset(split='test')) == 3000
    with pytest.raises(ValueError, match='split'):
        Digits100Dataset(split='val')
