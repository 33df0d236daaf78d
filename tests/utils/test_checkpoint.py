# Copyright (c) dckd_mm contributors. All rights reserved.
"""The checkpoint helpers: one state-dict extractor for every format."""
from collections import OrderedDict

import pytest
import torch

import dckd_mm  # noqa: F401
from dckd_mm.utils.checkpoint import extract_state_dict


def test_extract_state_dict_every_format():
    w, b = torch.ones(2, 3), torch.zeros(2)
    bare = OrderedDict([('fc.weight', w), ('fc.bias', b)])
    wrapped = OrderedDict(('module.' + k, v) for k, v in bare.items())
    for ckpt in (bare, wrapped, {'state_dict': bare, 'meta': {}},
                 {'model': wrapped, 'epoch': 240, 'best_acc': 75.0},
                 {'net': bare, 'acc': 90.0}):
        out = extract_state_dict(ckpt)
        assert list(out) == ['fc.weight', 'fc.bias']
        assert out['fc.weight'] is w and out['fc.bias'] is b
    # mmengine's key wins over RepDistiller's when both are there
    assert list(extract_state_dict({'model': {'x': w},
                                    'state_dict': {'y': w}})) == ['y']


@pytest.mark.parametrize('ckpt', [
    {}, {'model': {}}, {'epoch': 3, 'best_acc': 70.0},
    {'state_dict': {'w': 1.0}}, [torch.ones(1)], torch.ones(1)
], ids=['empty', 'empty-model', 'no-state', 'not-tensors', 'list', 'tensor'])
def test_extract_state_dict_refuses_what_holds_none(ckpt):
    with pytest.raises(ValueError, match='holds no state dict of tensors'):
        extract_state_dict(ckpt)
