"""pix2pix's U-Net and PatchGAN as junyanz/pytorch-CycleGAN-and-pix2pix builds them."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from checkerscope.zoo.pix2pix import PatchGANDiscriminator, Pix2PixUNet, UNetSkipBlock

from .structure import geometry, neighbours, of_type


def test_unet_upsamples_with_k4_s2_p1_transposed_convolutions_between_relu_and_norm() -> None:
    g = Pix2PixUNet(num_downs=7, ngf=8)
    deconvs = of_type(g, nn.ConvTranspose2d)
    assert len(deconvs) == 7
    assert {geometry(m) for m in deconvs} == {((4, 4), (2, 2), (1, 1), (0, 0))}
    downs = [m for m in of_type(g, nn.Conv2d)]
    assert len(downs) == 7 and {geometry(m) for m in downs} == {((4, 4), (2, 2), (1, 1), (0, 0))}
    around = neighbours(g, nn.ConvTranspose2d)
    assert all(type(before) is nn.ReLU for before, _ in around)
    assert sorted(type(after).__name__ for _, after in around) == ["BatchNorm2d"] * 6 + ["Tanh"]
    assert [m.p for m in of_type(g, nn.Dropout)] == [0.5, 0.5]  # num_downs - 5 levels
    # Batch norm: no biases, but for the outermost deconvolution, as in the reference.
    assert [m.bias is not None for m in deconvs] == [False] * 6 + [True]  # innermost first


def test_unet_skips_double_the_channels_each_deconvolution_reads() -> None:
    # modules() lists the innermost level's deconvolution first
    g = Pix2PixUNet(num_downs=5, ngf=4)
    assert [(m.in_channels, m.out_channels) for m in of_type(g, nn.ConvTranspose2d)] == [
        (32, 32), (64, 16), (32, 8), (16, 4), (8, 3),
    ]  # fmt: skip
    block = UNetSkipBlock(8, 16, innermost=True)
    x = torch.randn(2, 8, 4, 4)
    torch.testing.assert_close(block(x)[:, :8], x)


def test_instance_norm_gives_the_convolutions_biases() -> None:
    g = Pix2PixUNet(num_downs=5, ngf=4, norm="instance", dropout=False)
    assert all(m.bias is not None for m in of_type(g, (nn.Conv2d, nn.ConvTranspose2d)))
    assert not of_type(g, nn.BatchNorm2d) and not of_type(g, nn.Dropout)


def test_patchgan_strides_and_receptive_field() -> None:
    d = PatchGANDiscriminator(ndf=8, n_layers=3)
    convs = of_type(d, nn.Conv2d)
    assert [m.stride for m in convs] == [(2, 2)] * 3 + [(1, 1)] * 2
    assert {(m.kernel_size, m.padding) for m in convs} == {((4, 4), (1, 1))}
    assert [m.out_channels for m in convs] == [8, 16, 32, 64, 1]
    # A 70x70 PatchGAN: one output's receptive field, from the layers' geometry.
    field = 1
    for m in reversed(convs):
        field = (field - 1) * m.stride[0] + m.kernel_size[0]
    assert field == 70


def test_bad_arguments_name_themselves() -> None:
    with pytest.raises(ValueError, match=r"^num_downs must be at least 5, got 4$"):
        Pix2PixUNet(num_downs=4)
    with pytest.raises(ValueError, match=r"^norm must be one of 'batch', 'instance', got 'group'$"):
        PatchGANDiscriminator(norm="group")
