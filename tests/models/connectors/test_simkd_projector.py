# Copyright (c) dckd_mm contributors. All rights reserved.
import pytest
import torch

import dckd_mm  # noqa: F401
from dckd_mm.models.connectors import SimKDProjector


def test_simkd_layout_and_parameter_count():
    proj = SimKDProjector(64, 256, factor=2)
    keys = list(proj.state_dict())
    # SimKD's nn.Sequential 'transfer': conv, bn, relu, conv, bn, relu, ...
    assert keys[0] == 'transfer.0.weight'
    assert 'transfer.1.running_mean' in keys
    assert 'transfer.7.num_batches_tracked' in keys
    mid = 128
    expected = (64 * mid + 2 * mid + mid * mid * 9 + 2 * mid + mid * 256 +
                2 * 256)
    assert sum(p.numel() for p in proj.parameters()) == expected
    out = proj(torch.randn(2, 64, 8, 8))
    assert out.shape == (2, 256, 8, 8)
    assert (out >= 0).all()  # SimKD ends with BN + ReLU


def test_registered_as_mmrazor_connector():
    from mmrazor.registry import MODELS
    assert MODELS.get('SimKDProjector') is SimKDProjector
    built = MODELS.build(
        dict(_scope_='mmrazor', type='SimKDProjector', in_channels=8,
             out_channels=16))
    assert isinstance(built, SimKDProjector)


def test_channel_errors():
    with pytest.raises(ValueError, match="student's last stage"):
        SimKDProjector(64, 128)(torch.randn(2, 32, 4, 4))
    with pytest.raises(ValueError, match='positive integer'):
        SimKDProjector(0, 128)
    with pytest.raises(ValueError, match='bottleneck'):
        SimKDProjector(8, 4, factor=8)


def test_out_act_off_keeps_the_layout_and_negative_values():
    torch.manual_seed(0)
    with_relu, without = SimKDProjector(8, 16), SimKDProjector(
        8, 16, out_act=False)
    assert list(with_relu.state_dict()) == list(without.state_dict())
    without.load_state_dict(with_relu.state_dict())
    x = torch.randn(4, 8, 4, 4)
    out = without(x)
    assert (out < 0).any()  # BN output, as a transformer token can be
    torch.testing.assert_close(with_relu(x), out.clamp(min=0))
    with pytest.raises(ValueError, match='out_act must be True or False'):
        SimKDProjector(8, 16, out_act='no')
