"""CycleGAN's ResNet generator as junyanz/pytorch-CycleGAN-and-pix2pix builds it."""

from __future__ import annotations

from torch import nn

from checkerscope.zoo.cyclegan import CycleGANResnetGenerator, ResnetBlock

from .structure import geometry, neighbours, of_type


def test_upsamples_with_k3_s2_p1_op1_transposed_convolutions_then_instance_norm() -> None:
    g = CycleGANResnetGenerator(ngf=8, n_blocks=6)
    deconvs = of_type(g, nn.ConvTranspose2d)
    assert [geometry(m) for m in deconvs] == [((3, 3), (2, 2), (1, 1), (1, 1))] * 2
    assert [(m.in_channels, m.out_channels) for m in deconvs] == [(32, 16), (16, 8)]
    for _, after in neighbours(g, nn.ConvTranspose2d):
        assert isinstance(after, nn.InstanceNorm2d)
        assert not after.affine and not after.track_running_stats
    assert all(m.bias is not None for m in deconvs)


def test_downsamples_twice_and_pads_by_reflection() -> None:
    g = CycleGANResnetGenerator(ngf=8, n_blocks=6)
    strided = [m for m in of_type(g, nn.Conv2d) if m.stride != (1, 1)]
    assert [geometry(m) for m in strided] == [((3, 3), (2, 2), (1, 1), (0, 0))] * 2
    assert len(of_type(g, ResnetBlock)) == 6
    assert [m.padding for m in of_type(g, nn.ReflectionPad2d)][:1] == [(3, 3, 3, 3)]
    assert isinstance(g.model[-1], nn.Tanh)
