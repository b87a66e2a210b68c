"""HiFi-GAN V1's generator as jik876/hifi-gan builds it with config_v1.json."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from checkerscope.zoo.hifigan import LRELU_SLOPE, HiFiGANGenerator, HiFiGANResBlock, same_padding

from .structure import geometry, of_type


def test_upsamples_by_8_8_2_2_with_kernels_16_16_4_4() -> None:
    g = HiFiGANGenerator(initial_channel=64)
    ups = of_type(g, nn.ConvTranspose1d)
    assert [geometry(m) for m in ups] == [(16, 8, 4, 0), (16, 8, 4, 0), (4, 2, 1, 0), (4, 2, 1, 0)]
    assert [(m.in_channels, m.out_channels) for m in ups] == [(64, 32), (32, 16), (16, 8), (8, 4)]
    blocks = of_type(g, HiFiGANResBlock)
    assert len(blocks) == 12
    assert [b.convs1[0].kernel_size[0] for b in blocks[:3]] == [3, 7, 11]
    assert [c.dilation[0] for c in blocks[0].convs1] == [1, 3, 5]
    assert [c.padding[0] for c in blocks[2].convs1] == [5, 15, 25]


def test_forward_is_the_references_loop() -> None:
    torch.manual_seed(0)
    g = HiFiGANGenerator(initial_channel=16, weight_norm=False)
    mel = torch.randn(2, 80, 5)
    x = g.conv_pre(mel)
    for i, up in enumerate(g.ups):
        x = up(F.leaky_relu(x, LRELU_SLOPE))
        x = sum(block(x) for block in g.resblocks[i]) / 3
    expected = torch.tanh(g.conv_post(F.leaky_relu(x, 0.01)))
    torch.testing.assert_close(g(mel), expected)


def test_same_padding_keeps_the_length() -> None:
    for k, d in ((3, 1), (7, 3), (11, 5)):
        conv = nn.Conv1d(1, 1, k, dilation=d, padding=same_padding(k, d))
        assert conv(torch.randn(1, 1, 100)).shape[-1] == 100
