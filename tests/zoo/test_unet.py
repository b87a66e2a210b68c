"""milesial's U-Net: 2x2 stride-2 transposed convolutions up (or bilinear), max-pooling down."""

from __future__ import annotations

import torch
from torch import nn

from checkerscope.zoo.unet import MilesialUNet

from .structure import geometry, of_type


def test_upsamples_with_k2_s2_transposed_convolutions_halving_channels() -> None:
    net = MilesialUNet(base=8)
    deconvs = of_type(net, nn.ConvTranspose2d)
    assert [geometry(m) for m in deconvs] == [((2, 2), (2, 2), (0, 0), (0, 0))] * 4
    assert [(m.in_channels, m.out_channels) for m in deconvs] == [
        (128, 64), (64, 32), (32, 16), (16, 8),
    ]  # fmt: skip
    assert [m.kernel_size for m in of_type(net, nn.MaxPool2d)] == [2] * 4
    assert all(m.bias is None for m in of_type(net, nn.Conv2d) if m.kernel_size == (3, 3))


def test_bilinear_variant_upsamples_with_aligned_corners() -> None:
    net = MilesialUNet(base=8, bilinear=True)
    ups = of_type(net, nn.Upsample)
    assert [(m.scale_factor, m.mode, m.align_corners) for m in ups] == [(2.0, "bilinear", True)] * 4
    assert not of_type(net, nn.ConvTranspose2d)
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 2, 32, 32)


def test_odd_sizes_are_padded_to_the_skip() -> None:
    assert MilesialUNet(base=4)(torch.randn(2, 3, 37, 45)).shape == (2, 2, 37, 45)
