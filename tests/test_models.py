"""Reference architectures: shapes for every resampler kind, the layers they are built from."""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import checkerscope
from checkerscope.models import (
    AudioUpsampler1d,
    DCGANGenerator,
    StridedClassifier,
    StridedDiscriminator,
    UNet,
)

UP_2D = ("deconv", "resize_conv", "bilinear_resize_conv", "subpixel", "subpixel_icnr")
UP_1D = ("deconv", "resize_conv", "bilinear_resize_conv")
DOWN = ("strided_conv", "antialiased")
SIZES = (32, 64)


def count(model: nn.Module, cls: type) -> int:
    return sum(isinstance(m, cls) for m in model.modules())


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("kind", UP_2D)
def test_generator_shapes(kind: str, size: int) -> None:
    g = DCGANGenerator(nz=16, ngf=4, nc=3, image_size=size, upsample=kind)
    z = torch.randn(2, 16)
    y = g(z)
    assert y.shape == (2, 3, size, size)
    assert y.abs().max() <= 1  # tanh
    torch.testing.assert_close(g(z[:, :, None, None]), y)  # (N, nz, 1, 1) latents too
    stages = {32: 3, 64: 4}[size]
    assert count(g, type(checkerscope.nn.upsampler(kind, 2, 2))) == stages
    assert count(g, nn.ConvTranspose2d) == (stages if kind == "deconv" else 0)


def test_generator_channels_follow_dcgan() -> None:
    g = DCGANGenerator(nz=8, ngf=4, image_size=64, upsample="resize_conv")
    ups = [m for m in g.modules() if isinstance(m, checkerscope.nn.ResizeConv2d)]
    assert [(m.in_channels, m.out_channels) for m in ups] == [(32, 16), (16, 8), (8, 4), (4, 3)]


def test_generator_projection_is_dcgans_stride1_deconvolution() -> None:
    """The Linear head on a latent is the same operator as ConvTranspose2d(nz, C, 4, 1, 0)
    applied to it as a 1x1 map."""
    g = DCGANGenerator(nz=8, ngf=2, image_size=32)
    linear = g.project[0]
    deconv = nn.ConvTranspose2d(8, 8, 4, 1, 0, bias=False)
    with torch.no_grad():
        deconv.weight.copy_(linear.weight.T.reshape(8, 8, 4, 4))
    z = torch.randn(3, 8)
    torch.testing.assert_close(g.project[1](linear(z)), deconv(z[:, :, None, None]))


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("kind", UP_2D)
def test_unet_shapes(kind: str, size: int) -> None:
    net = UNet(in_channels=3, out_channels=2, base=4, depth=3, upsample=kind)
    assert net(torch.randn(2, 3, size, size)).shape == (2, 2, size, size)
    assert count(net, type(checkerscope.nn.upsampler(kind, 2, 2))) == 3


def test_unet_merges_each_encoder_map_with_the_upsampled_one() -> None:
    net = UNet(base=4, depth=2, upsample="resize_conv").eval()
    x = torch.randn(1, 3, 16, 16)
    seen: dict[int, torch.Tensor] = {}

    def keep_input(i: int):
        def hook(module: nn.Module, inputs: tuple[torch.Tensor], output: torch.Tensor) -> None:
            seen[i] = inputs[0]

        return hook

    for i, merge in enumerate(net.merge):
        merge.register_forward_hook(keep_input(i))
    net(x)
    skip0 = net.stem(x)
    skip1 = net.down[0](skip0)
    assert seen[0].shape == (1, 8, 16, 16)
    assert seen[1].shape == (1, 16, 8, 8)
    torch.testing.assert_close(seen[0][:, 4:], skip0)
    torch.testing.assert_close(seen[1][:, 8:], skip1)
    torch.testing.assert_close(seen[1][:, :8], net.up[1](net.down[1](skip1)))


@pytest.mark.parametrize("kind", UP_1D)
def test_audio_upsampler_shapes(kind: str) -> None:
    net = AudioUpsampler1d(in_channels=4, channels=8, upsample=kind)
    for length in (32, 64, 50):
        assert net(torch.randn(2, 4, length)).shape == (2, 1, 8 * length)
    assert count(net, type(checkerscope.nn.upsampler(kind, 2, 2, dims=1))) == 3


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("kind", DOWN)
def test_discriminator_and_classifier_shapes(kind: str, size: int) -> None:
    d = StridedDiscriminator(nc=3, ndf=4, image_size=size, downsample=kind)
    assert d(torch.randn(2, 3, size, size)).shape == (2,)
    layers = d.main[:-1]  # all but the final 4x4 convolution to one logit
    assert count(layers, type(checkerscope.nn.downsampler(kind, 2, 2))) == {32: 3, 64: 4}[size]
    c = StridedClassifier(in_channels=3, num_classes=7, width=4, downsample=kind)
    assert c(torch.randn(2, 3, size, size)).shape == (2, 7)


def smooth_targets(n: int, channels: int, size: int, dims: int, seed: int) -> torch.Tensor:
    """n different smooth signals in [-0.8, 0.8]: random 4-sample grids, interpolated."""
    gen = torch.Generator().manual_seed(seed)
    low = torch.rand(n, channels, *(4,) * dims, generator=gen) * 1.6 - 0.8
    mode = {1: "linear", 2: "bilinear"}[dims]
    return F.interpolate(low, size=(size,) * dims, mode=mode, align_corners=False)


def learning_cases() -> list[tuple[str, Callable[[], nn.Module], torch.Tensor, torch.Tensor]]:
    """(name, model, inputs, targets): one fixed batch per model, targets differing by sample."""
    gen = torch.Generator().manual_seed(0)
    return [
        (
            "generator",
            lambda: DCGANGenerator(nz=8, ngf=4, image_size=32, upsample="resize_conv"),
            torch.randn(6, 8, generator=gen),
            smooth_targets(6, 3, 32, dims=2, seed=1),
        ),
        (
            "unet",
            lambda: UNet(base=4, depth=2, upsample="resize_conv", downsample="antialiased"),
            torch.randn(6, 3, 16, 16, generator=gen),
            smooth_targets(6, 3, 16, dims=2, seed=2),
        ),
        (
            "audio",
            lambda: AudioUpsampler1d(in_channels=2, channels=8, upsample="bilinear_resize_conv"),
            torch.randn(6, 2, 8, generator=gen),
            smooth_targets(6, 1, 64, dims=1, seed=3),
        ),
        (
            "discriminator",
            lambda: StridedDiscriminator(ndf=4, image_size=32, downsample="antialiased"),
            torch.randn(8, 3, 32, 32, generator=gen),
            torch.tensor([0.0, 1.0] * 4),
        ),
        (
            "classifier",
            lambda: StridedClassifier(width=4, num_classes=3, downsample="antialiased"),
            torch.randn(9, 3, 16, 16, generator=gen),
            torch.arange(9) % 3,
        ),
    ]


def loss_and_floor(
    targets: torch.Tensor,
) -> tuple[Callable[[torch.Tensor, torch.Tensor], torch.Tensor], float]:
    """The loss for these targets, and the least loss of an output that ignores the input."""
    if targets.dtype == torch.long:  # classes, equally frequent: the best constant is uniform
        return F.cross_entropy, math.log(int(targets.max()) + 1)
    if targets.dim() == 1:  # real/fake labels, half each
        return F.binary_cross_entropy_with_logits, math.log(2)
    # Mean squared error: the best constant output is the batch mean.
    return F.mse_loss, (targets - targets.mean(0)).square().mean().item()


@pytest.mark.parametrize(
    ("build", "inputs", "targets"),
    [case[1:] for case in learning_cases()],
    ids=[case[0] for case in learning_cases()],
)
def test_models_learn_a_fixed_batch(
    build: Callable[[], nn.Module], inputs: torch.Tensor, targets: torch.Tensor
) -> None:
    """300 Adam steps fit one small batch to a tenth of what an input-blind model can reach,
    and the first step sends a gradient to every parameter (nothing detached or unused)."""
    torch.manual_seed(0)
    model = build()
    loss_fn, floor = loss_and_floor(targets)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(300):
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        if not losses:
            for name, p in model.named_parameters():
                assert p.grad is not None and p.grad.abs().max() > 0, name
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * floor < losses[0], (losses[0], losses[-1], floor)


def test_generator_and_discriminator_train_together() -> None:
    g = DCGANGenerator(nz=8, ngf=4, image_size=32)
    d = StridedDiscriminator(ndf=4, image_size=32, downsample="antialiased")
    d(g(torch.randn(2, 8))).mean().backward()
    for name, p in [*g.named_parameters(), *d.named_parameters()]:
        assert p.grad is not None and p.grad.abs().max() > 0, name


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: DCGANGenerator(image_size=48),
            "image_size must be a power of two >= 8 (e.g. 32 or 64), got 48",
        ),
        (
            lambda: StridedDiscriminator(image_size=4),
            "image_size must be a power of two >= 8 (e.g. 32 or 64), got 4",
        ),
        (lambda: DCGANGenerator(nz=0), "nz must be a positive integer, got 0"),
        (lambda: DCGANGenerator(upsample="transposed"), "kind must be one of 'deconv'"),
        (lambda: AudioUpsampler1d(upsample="bogus"), "kind must be one of 'deconv'"),
        (lambda: UNet(depth=0), "depth must be a positive integer, got 0"),
    ],
)
def test_bad_arguments(build, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        build()


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match=re.escape("z must have shape (N, 8) or (N, 8, 1, 1)")):
        DCGANGenerator(nz=8, ngf=2, image_size=32)(torch.randn(2, 8, 2, 2))
    with pytest.raises(ValueError, match=re.escape("H and W divisible by 8, got (1, 3, 30, 32)")):
        UNet(base=2)(torch.randn(1, 3, 30, 32))
