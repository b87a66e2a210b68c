"""MelGAN's generator and multi-scale discriminator as descriptinc/melgan-neurips builds them."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils.parametrize import is_parametrized

from checkerscope.zoo.melgan import (
    MelGANDiscriminator,
    MelGANGenerator,
    MelGANResnetBlock,
    MelGANScaleDiscriminator,
)

from .structure import geometry, neighbours, of_type


def test_generator_upsamples_by_8_8_2_2_with_kernels_twice_the_stride() -> None:
    g = MelGANGenerator(ngf=8)
    ups = of_type(g, nn.ConvTranspose1d)
    assert [geometry(m) for m in ups] == [(16, 8, 4, 0), (16, 8, 4, 0), (4, 2, 1, 0), (4, 2, 1, 0)]
    assert [(m.in_channels, m.out_channels) for m in ups] == [
        (128, 64), (64, 32), (32, 16), (16, 8),
    ]  # fmt: skip
    for before, _ in neighbours(g, nn.ConvTranspose1d):
        assert isinstance(before, nn.LeakyReLU) and before.negative_slope == 0.2
    blocks = of_type(g, MelGANResnetBlock)
    assert [b.block[2].dilation for b in blocks] == [(1,), (3,), (9,)] * 4
    assert isinstance(g.model[-1], nn.Tanh)


def test_odd_ratios_use_output_padding() -> None:
    g = MelGANGenerator(ngf=2, n_residual_layers=0, ratios=(5, 3))
    assert [geometry(m) for m in of_type(g, nn.ConvTranspose1d)] == [(10, 5, 3, 1), (6, 3, 2, 1)]
    assert g(torch.randn(1, 80, 7)).shape == (1, 1, 7 * 15)


def test_every_convolution_is_weight_normalised_by_default() -> None:
    g = MelGANGenerator(ngf=2, n_residual_layers=1)
    convs = of_type(g, (nn.Conv1d, nn.ConvTranspose1d))
    assert convs and all(is_parametrized(m, "weight") for m in convs)
    plain = of_type(MelGANGenerator(ngf=2, weight_norm=False), (nn.Conv1d, nn.ConvTranspose1d))
    assert not any(is_parametrized(m) for m in plain)


def test_discriminator_scales_downsample_with_grouped_strided_convolutions() -> None:
    d = MelGANDiscriminator(ndf=16, max_channels=256)
    assert len(d.scales) == 3
    strided = [m for m in of_type(d.scales[0], nn.Conv1d) if m.stride != (1,)]
    assert [geometry(m)[:3] for m in strided] == [(41, 4, 20)] * 4
    assert [(m.in_channels, m.out_channels, m.groups) for m in strided] == [
        (16, 64, 4), (64, 256, 16), (256, 256, 64), (256, 256, 64),
    ]  # fmt: skip
    pool = d.downsample
    assert (pool.kernel_size, pool.stride, pool.padding, pool.count_include_pad) == (
        (4,), (2,), (1,), False,
    )  # fmt: skip


def test_discriminator_logits_are_each_scales_last_features() -> None:
    d = MelGANDiscriminator(ndf=4, max_channels=32, weight_norm=False)
    x = torch.randn(2, 1, 1024)
    features = d.features(x)
    assert [len(f) for f in features] == [7, 7, 7]
    torch.testing.assert_close(d(x), torch.cat([f[-1].flatten(1) for f in features], 1))
    torch.testing.assert_close(features[1][-1], d.scales[1](d.downsample(x)))


def test_ungroupable_widths_are_refused() -> None:
    with pytest.raises(ValueError, match=r"^channels 6 -> 24 cannot be grouped by 6 // 4"):
        MelGANScaleDiscriminator(ndf=6)
