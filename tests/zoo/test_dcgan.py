"""DCGAN as pytorch/examples builds it: the layers, and the initialization after every reset."""

from __future__ import annotations

import torch
from torch import nn

from checkerscope.zoo.dcgan import DCGANDiscriminator, DCGANGenerator

from .structure import geometry, neighbours, of_type


def reinitialize(model: nn.Module) -> None:
    """What the audit does per seed: every module's reset_parameters(), children first."""
    for m in reversed(list(model.modules())):
        if callable(getattr(m, "reset_parameters", None)):
            m.reset_parameters()


def test_generator_upsamples_with_k4_s2_p1_transposed_convolutions() -> None:
    g = DCGANGenerator(nz=100, ngf=16)
    deconvs = of_type(g, nn.ConvTranspose2d)
    assert [geometry(m) for m in deconvs] == [((4, 4), (1, 1), (0, 0), (0, 0))] + [
        ((4, 4), (2, 2), (1, 1), (0, 0))
    ] * 4
    assert [(m.in_channels, m.out_channels) for m in deconvs] == [
        (100, 128), (128, 64), (64, 32), (32, 16), (16, 3),
    ]  # fmt: skip
    assert all(m.bias is None for m in deconvs)
    around = neighbours(g, nn.ConvTranspose2d)
    assert all(type(after) is nn.BatchNorm2d for _, after in around[:-1])
    assert type(around[-1][1]) is nn.Tanh
    assert len(of_type(g, nn.ReLU)) == 4


def test_discriminator_downsamples_with_k4_s2_p1_convolutions() -> None:
    d = DCGANDiscriminator(ndf=16)
    convs = of_type(d, nn.Conv2d)
    assert [geometry(m) for m in convs] == [((4, 4), (2, 2), (1, 1), (0, 0))] * 4 + [
        ((4, 4), (1, 1), (0, 0), (0, 0))
    ]
    assert all(m.negative_slope == 0.2 for m in of_type(d, nn.LeakyReLU))
    assert len(of_type(d, nn.BatchNorm2d)) == 3 and isinstance(d.main[-1], nn.Sigmoid)


def test_every_reset_draws_dcgans_normal_weights() -> None:
    torch.manual_seed(0)
    for model in (DCGANGenerator(ngf=16), DCGANDiscriminator(ndf=16)):
        for _ in range(2):  # at construction, and after the audit's re-initialization
            convs = of_type(model, (nn.Conv2d, nn.ConvTranspose2d))
            weights = torch.cat([m.weight.detach().flatten() for m in convs])
            assert abs(float(weights.std()) - 0.02) < 0.001
            scales = torch.cat([m.weight.detach() for m in of_type(model, nn.BatchNorm2d)])
            assert abs(float(scales.mean()) - 1) < 0.01 and float(scales.std()) < 0.03
            reinitialize(model)
