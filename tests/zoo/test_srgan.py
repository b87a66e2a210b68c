"""SRGAN's generator: conv -> PixelShuffle(2) -> PReLU upsampling, as in Ledig et al. Fig. 4."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from checkerscope.zoo.srgan import SRGANGenerator

from .structure import geometry, neighbours, of_type


def test_upsamples_by_conv_then_pixel_shuffle_then_prelu() -> None:
    g = SRGANGenerator(channels=16, n_blocks=4, scale=4)
    shuffles = of_type(g, nn.PixelShuffle)
    assert [m.upscale_factor for m in shuffles] == [2, 2]
    for before, after in neighbours(g, nn.PixelShuffle):
        assert isinstance(before, nn.Conv2d) and geometry(before)[:3] == ((3, 3), (1, 1), (1, 1))
        assert (before.in_channels, before.out_channels) == (16, 64)
        assert isinstance(after, nn.PReLU)
    assert not of_type(g, nn.ConvTranspose2d)
    assert [m.kernel_size for m in (g.head[0], g.tail[-1])] == [(9, 9), (9, 9)]
    assert len(of_type(g, nn.BatchNorm2d)) == 2 * 4 + 1


def test_output_is_in_the_unit_interval_and_scale_is_checked() -> None:
    y = SRGANGenerator(channels=8, n_blocks=1)(torch.randn(2, 3, 8, 8) * 10)
    assert y.min() >= 0 and y.max() <= 1
    with pytest.raises(ValueError, match=r"^scale must be a power of two >= 2, got 3$"):
        SRGANGenerator(scale=3)
