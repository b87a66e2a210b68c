"""ESRGAN's RRDBNet: nearest x2 -> conv -> LeakyReLU upsampling, dense blocks scaled at init."""

from __future__ import annotations

import torch
from torch import nn

from checkerscope.zoo.esrgan import RRDB, ResidualDenseBlock, RRDBNet

from .structure import geometry, neighbours, of_type


def test_upsamples_by_nearest_then_conv_then_leaky_relu() -> None:
    net = RRDBNet(nf=16, nb=2, gc=8)
    ups = of_type(net, nn.Upsample)
    assert [(m.scale_factor, m.mode) for m in ups] == [(2.0, "nearest")] * 2
    for _, after in neighbours(net, nn.Upsample):
        assert geometry(after)[:3] == ((3, 3), (1, 1), (1, 1))
    lrelus = [m for m in net.upsample if isinstance(m, nn.LeakyReLU)]
    assert [m.negative_slope for m in lrelus] == [0.2, 0.2]
    assert not of_type(net, (nn.ConvTranspose2d, nn.PixelShuffle, nn.BatchNorm2d))
    assert len(of_type(net, RRDB)) == 2 and len(of_type(net, ResidualDenseBlock)) == 6


def test_nn_upsample_computes_what_the_reference_interpolation_does() -> None:
    net = RRDBNet(nf=8, nb=1, gc=4)
    x = torch.randn(2, 8, 6, 6)
    expected = net.upsample[2](net.upsample[1](torch.nn.functional.interpolate(x, scale_factor=2)))
    torch.testing.assert_close(net.upsample[:3](x), expected)


def test_dense_blocks_start_at_a_tenth_of_kaiming_with_zero_bias() -> None:
    torch.manual_seed(0)
    block = ResidualDenseBlock(64, 32)
    for _ in range(2):
        for conv in block.convs:
            fan_in = conv.weight[0].numel()
            ratio = float(conv.weight.detach().std()) / (0.1 * (2 / fan_in) ** 0.5)
            assert 0.9 < ratio < 1.1
            assert not conv.bias.any()
        block.convs[0].reset_parameters()
        block.reset_parameters()
