"""EDSR: conv -> PixelShuffle upsampling without activation, residual blocks without norm."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from checkerscope.zoo.edsr import EDSR

from .structure import geometry, neighbours, of_type


@pytest.mark.parametrize(("scale", "factors"), [(2, [2]), (3, [3]), (4, [2, 2])])
def test_upsamples_by_conv_then_pixel_shuffle(scale: int, factors: list[int]) -> None:
    net = EDSR(n_resblocks=2, n_feats=8, scale=scale)
    assert [m.upscale_factor for m in of_type(net, nn.PixelShuffle)] == factors
    for (before, after), r in zip(neighbours(net, nn.PixelShuffle), factors, strict=True):
        assert geometry(before)[:3] == ((3, 3), (1, 1), (1, 1))
        assert (before.in_channels, before.out_channels) == (8, r * r * 8)
        assert isinstance(after, nn.Conv2d)  # no activation after the shuffle
    assert not of_type(net, (nn.BatchNorm2d, nn.ConvTranspose2d, nn.PReLU))
    assert net(torch.randn(1, 3, 5, 5)).shape == (1, 3, 5 * scale, 5 * scale)


def test_mean_shift_is_a_fixed_buffer_outside_the_state_dict() -> None:
    net = EDSR(n_resblocks=0, n_feats=4, rgb_range=255)
    torch.testing.assert_close(net.mean.flatten(), torch.tensor([0.4488, 0.4371, 0.4040]) * 255)
    assert "mean" not in net.state_dict()
    with pytest.raises(ValueError, match=r"^scale must be 3 or a power of two >= 2, got 5$"):
        EDSR(scale=5)
