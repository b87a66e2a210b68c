"""BlurPool and the anti-aliased strided convolution, checked against independent computations."""

from __future__ import annotations

import math
import warnings
from typing import Any, ClassVar

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from checkerscope.functional.blurpool import (
    binomial_taps,
    blur,
    blur_pool,
    blur_reference,
    box_taps,
    pad_for_filter,
    separable_kernel,
)
from checkerscope.nn import AntiAliasedConv1d, AntiAliasedConv2d, BlurPool1d, BlurPool2d

from .layer_tester import CONSTANT_SIZES, Configs, Grid, LayerTester

PADDING_MODES = ["reflect", "replicate", "zeros"]


def checkerboard(h: int, w: int) -> torch.Tensor:
    """(-1)**(i + j): the highest frequency a grid holds, which subsampling aliases to DC."""
    i = torch.arange(h).view(-1, 1)
    j = torch.arange(w).view(1, -1)
    return (1 - 2 * ((i + j) % 2)).float().expand(1, 1, h, w)


# ---------------------------------------------------------------- filters


@pytest.mark.parametrize("n", range(1, 9))
def test_binomial_taps_are_repeated_two_tap_averages(n: int) -> None:
    taps = np.array([1.0])
    for _ in range(n - 1):
        taps = np.convolve(taps, [0.5, 0.5])
    torch.testing.assert_close(binomial_taps(n, dtype=torch.float64), torch.from_numpy(taps))
    assert binomial_taps(n).sum().item() == pytest.approx(1.0)


def test_separable_kernel_is_the_outer_product_and_sums_to_one() -> None:
    taps = binomial_taps(3)
    kernel = separable_kernel(taps, 2)
    torch.testing.assert_close(kernel, torch.outer(taps, taps))
    torch.testing.assert_close(kernel, torch.tensor([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16)
    assert separable_kernel(box_taps(3), 3).sum().item() == pytest.approx(1.0)


# ---------------------------------------------------------------- fast == reference


@settings(max_examples=50, deadline=None)
@given(
    dims=st.sampled_from([1, 2]),
    n=st.integers(1, 6),
    stride=st.integers(1, 3),
    size=st.integers(6, 11),
    mode=st.sampled_from(PADDING_MODES),
    seed=st.integers(0, 2**16),
)
def test_blur_equals_reference(
    dims: int, n: int, stride: int, size: int, mode: str, seed: int
) -> None:
    torch.manual_seed(seed)
    x = torch.randn(2, 3, *(size, size + 1)[:dims], dtype=torch.float64)
    kernel = separable_kernel(binomial_taps(n, dtype=torch.float64), dims)
    fast = blur(x, kernel, stride, mode)
    torch.testing.assert_close(fast, blur_reference(x, kernel, stride, mode))
    assert fast.shape[2:] == tuple(math.ceil(s / stride) for s in x.shape[2:])


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (3, [0.0, 0.0, 0.25, 0.25, 0.0]),  # output i sees inputs 2i-1, 2i, 2i+1
        (4, [0.0, 0.0, 0.375, 0.125, 0.0]),  # output i sees inputs 2i-1 .. 2i+2
        (2, [0.0, 0.0, 0.5, 0.0, 0.0]),  # output i sees inputs 2i, 2i+1
    ],
)
def test_alignment_of_an_impulse(n: int, expected: list[float]) -> None:
    x = torch.zeros(1, 1, 9)
    x[..., 5] = 1.0
    torch.testing.assert_close(blur_pool(x, 2, n, "zeros"), torch.tensor([[expected]]))


@pytest.mark.parametrize("k", [3, 4])
@pytest.mark.parametrize("stride", [2, 3])
def test_antialiased_conv_is_conv_then_blurpool(k: int, stride: int) -> None:
    layer = AntiAliasedConv2d(3, 5, k, stride=stride)
    x = torch.randn(2, 3, 12, 11)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # even k: "same" pads a copy
        conv = F.conv2d(x, layer.conv.weight, layer.conv.bias, padding="same")
        got = layer(x)
    torch.testing.assert_close(
        got, blur_reference(conv, separable_kernel(binomial_taps(3), 2), stride)
    )
    assert got.shape == (2, 5, math.ceil(12 / stride), math.ceil(11 / stride))


def test_antialiased_conv1d_is_conv_then_blurpool() -> None:
    layer = AntiAliasedConv1d(3, 5, 5, stride=2, filter_size=4)
    x = torch.randn(2, 3, 21)
    conv = F.conv1d(x, layer.conv.weight, layer.conv.bias, padding=2)
    expected = blur_reference(conv, binomial_taps(4), 2)
    torch.testing.assert_close(layer(x), expected)
    assert expected.shape == (2, 5, 11)


def test_antialiased_conv_state_dict_maps_to_nn_conv2d() -> None:
    layer = AntiAliasedConv2d(3, 8, 3, stride=2)
    assert list(layer.state_dict()) == ["conv.weight", "conv.bias"]
    strided = nn.Conv2d(3, 8, 3, stride=2, padding=1)
    strided.load_state_dict({k.removeprefix("conv."): t for k, t in layer.state_dict().items()})
    x = torch.randn(1, 3, 8, 8)
    # Same output size; what differs is only that the blur now precedes the subsampling.
    assert strided(x).shape == layer(x).shape
    unblurred = F.conv2d(x, layer.conv.weight, layer.conv.bias, padding=1)
    torch.testing.assert_close(strided(x), unblurred[..., ::2, ::2])


# ---------------------------------------------------------------- properties


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_checkerboard_is_removed_not_aliased(n: int) -> None:
    x = checkerboard(8, 8).expand(1, 3, 8, 8)
    plain = x[..., ::2, ::2]  # a strided layer without a low-pass turns it into a constant
    torch.testing.assert_close(plain, torch.ones_like(plain))
    blurred = BlurPool2d(3, 2, n)(x)
    torch.testing.assert_close(blurred, torch.zeros_like(blurred))


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_gradient_of_antialiased_conv_has_no_checkerboard(n: int) -> None:
    # Odena et al.: a strided conv's backward pass is a deconvolution and paints uneven
    # overlap into the gradient. The binomial taps split evenly between the two phases of
    # stride 2, so the blur-pooled version sends every interior input the same gradient.
    conv = nn.Conv2d(1, 1, 3, stride=2, padding=1, bias=False)
    nn.init.constant_(conv.weight, 1.0)
    antialiased = AntiAliasedConv2d(1, 1, 3, stride=2, bias=False, filter_size=n)
    nn.init.constant_(antialiased.conv.weight, 1.0)
    grads = []
    for layer in (conv, antialiased):
        x = torch.ones(1, 1, 16, 16, requires_grad=True)
        layer(x).sum().backward()
        grads.append(x.grad[0, 0, 4:-4, 4:-4])
    strided, blurred = grads
    assert strided.max() / strided.min() == pytest.approx(4.0)
    torch.testing.assert_close(blurred, torch.full_like(blurred, blurred[0, 0].item()))


# ---------------------------------------------------------------- arguments and dtypes


@pytest.mark.parametrize("padding", [0, "valid", (2, 1)])
def test_antialiased_conv_passes_padding_to_the_conv(padding: int | str | tuple) -> None:
    layer = AntiAliasedConv2d(2, 3, 3, stride=2, padding=padding)
    pad = (0, 0) if padding in (0, "valid") else padding
    x = torch.randn(1, 2, 10, 10)
    conv = F.conv2d(x, layer.conv.weight, layer.conv.bias, padding=pad)
    torch.testing.assert_close(layer(x), blur_pool(conv))


def test_blurpool_follows_the_input_dtype() -> None:
    # No parameters, so no dtype of its own: a float32 module filters float64 input.
    x = torch.randn(1, 2, 8, 8, dtype=torch.float64)
    assert BlurPool2d(2)(x).dtype == torch.float64


def test_replicate_padding_accepts_a_one_sample_axis() -> None:
    # Reflect needs 2 samples to pad by 1 (the shared checks test its error text).
    assert BlurPool2d(4, padding_mode="replicate")(torch.randn(1, 4, 1, 8)).shape == (1, 4, 1, 4)


# ---------------------------------------------------------------- shared layer checks


def blurred_span(
    length: int, bad_before: int, bad_after: int, filter_size: int, stride: int, zeros: bool
) -> slice:
    """The blur-pool outputs that read none of the ``bad_before`` first, ``bad_after`` last
    of ``length`` input samples, nor (``zeros``) the zero padding."""
    before = (filter_size - 1) // 2
    after = filter_size - 1 - before
    first = -(-(bad_before + before) // stride) if bad_before or zeros else 0
    last = (length - 1 - bad_after - after) // stride + 1 if bad_after or zeros else None
    return slice(first, last)


def bad_input(dims: int) -> tuple[dict[str, Any], tuple[int, ...], str]:
    shape = (1, 4, 1, 8)[: dims + 2]
    return (
        {"padding_mode": "reflect"},
        shape,
        f"input of shape {shape} is too small for padding_mode='reflect': spatial axis 0 has "
        "size 1, but a filter of size 3 pads it by 1, which must be smaller; use "
        "padding_mode='replicate' or 'zeros'",
    )


def wrong_rank(dims: int) -> str:
    axes, shape = {1: ("W", "(3, 5)"), 2: ("H, W", "(3, 5, 4)")}[dims]
    return (
        f"input must have shape (N, C, {axes}) with {dims + 2} dimensions, got a tensor of "
        f"shape {shape}"
    )


def wrong_channels(dims: int) -> str:
    shape = {1: "(1, 5, 5)", 2: "(1, 5, 5, 4)"}[dims]
    return f"input has 5 channels (shape {shape}), but the layer expects in_channels=4"


class BlurPoolTester(LayerTester):
    upsamples = False
    configs: ClassVar[Configs] = {mode: {"padding_mode": mode} for mode in PADDING_MODES}
    slow_configs = ("reflect",)
    grid: ClassVar[Grid] = {"filter_size": (1, 2, 3, 4, 5, 6)}
    scales = (1, 2, 3, 4)
    channels = ((1, 1), (4, 4))  # blur-pool keeps the channels
    bad_arguments = (
        ({"channels": 0}, "channels must be a positive integer, got 0"),
        ({"channels": 4, "stride": 0}, "stride must be a positive integer, got 0"),
        ({"channels": 4, "stride": 2.0}, "stride must be a positive integer, got 2.0"),
        ({"channels": 4, "filter_size": -3}, "filter_size must be a positive integer, got -3"),
        (
            {"channels": 4, "padding_mode": "circular"},
            "padding_mode must be one of 'reflect', 'replicate', 'zeros', got 'circular'",
        ),
    )

    def make(
        self,
        config: dict[str, Any],
        in_channels: int,
        out_channels: int,
        scale: int,
        **factory: Any,
    ) -> nn.Module:
        return self.layer(in_channels, stride=scale, **config, **factory)

    def functional(self, layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return blur_pool(x, layer.stride, layer.filter_size, layer.padding_mode)

    def plain_conv(self, layer: nn.Module) -> None:
        return None  # the filter is a non-persistent buffer: no state

    def interior(self, layer: nn.Module, y: torch.Tensor) -> torch.Tensor:
        if layer.padding_mode != "zeros":
            return y
        spans = (
            blurred_span(n, 0, 0, layer.filter_size, layer.stride, zeros=True)
            for n in CONSTANT_SIZES[self.dims]
        )
        return y[(..., *spans)]


class TestBlurPool1d(BlurPoolTester):
    layer = BlurPool1d
    dims = 1
    wrong_rank_message = wrong_rank(1)
    wrong_channels_message = wrong_channels(1)
    bad_inputs = (bad_input(1),)
    reprs = (
        (
            {"channels": 4, "stride": 3, "filter_size": 5, "padding_mode": "zeros"},
            "BlurPool1d(4, stride=3, filter_size=5, padding_mode='zeros')",
        ),
    )


class TestBlurPool2d(BlurPoolTester):
    layer = BlurPool2d
    dims = 2
    wrong_rank_message = wrong_rank(2)
    wrong_channels_message = wrong_channels(2)
    bad_inputs = (bad_input(2),)
    reprs = (({"channels": 4}, "BlurPool2d(4, stride=2, filter_size=3, padding_mode='reflect')"),)


def antialiased(keywords: dict[str, Any], message: str) -> tuple[dict[str, Any], str]:
    return {"in_channels": 4, "out_channels": 6, **keywords}, message


# Even kernels: torch warns that padding="same" pads a copy of the input.
@pytest.mark.filterwarnings("ignore:Using padding='same'")
class AntiAliasedConvTester(LayerTester):
    upsamples = False
    configs: ClassVar[Configs] = {
        "default": {},
        "k4-f4": {"kernel_size": 4, "filter_size": 4},  # the grid varies filter_size too
        "zeros-blur": {"blur_padding_mode": "zeros"},
        "reflect-conv": {"padding_mode": "reflect", "blur_padding_mode": "replicate"},
        "dilated": {"dilation": 2},
        "no-bias": {"bias": False},
    }
    slow_configs = ("default",)
    grid: ClassVar[Grid] = {"filter_size": (1, 3, 4)}
    bad_arguments = (
        antialiased({"in_channels": 0}, "in_channels must be a positive integer, got 0"),
        antialiased({"kernel_size": 0}, "kernel_size must be a positive integer, got 0"),
        antialiased({"stride": -1}, "stride must be a positive integer, got -1"),
        antialiased(
            {"padding": "full"},
            "padding must be 'same', 'valid' or non-negative integers, got 'full'",
        ),
        antialiased({"padding": -1}, "padding must be a non-negative integer, got -1"),
        antialiased(
            {"groups": 3}, "groups must divide in_channels=4 and out_channels=6, got groups=3"
        ),
        antialiased({"bias": "no"}, "bias must be True or False, got 'no'"),
        antialiased(
            {"padding_mode": "mirror"},
            "padding_mode must be one of 'zeros', 'reflect', 'replicate', 'circular', got 'mirror'",
        ),
        antialiased({"filter_size": 0}, "filter_size must be a positive integer, got 0"),
        antialiased(
            {"blur_padding_mode": "wrap"},
            "blur_padding_mode must be one of 'reflect', 'replicate', 'zeros', got 'wrap'",
        ),
    )

    def make(
        self,
        config: dict[str, Any],
        in_channels: int,
        out_channels: int,
        scale: int,
        **factory: Any,
    ) -> nn.Module:
        return self.layer(in_channels, out_channels, stride=scale, **config, **factory)

    def functional(self, layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
        conv = layer.conv
        spans = tuple(d * (k - 1) + 1 for k, d in zip(conv.kernel_size, conv.dilation, strict=True))
        padded = pad_for_filter(x, spans, conv.padding_mode)  # "same", in torch's split
        convolve = {1: F.conv1d, 2: F.conv2d}[self.dims]
        y = convolve(padded, conv.weight, conv.bias, dilation=conv.dilation)
        return blur_pool(y, layer.stride, layer.blur.filter_size, layer.blur.padding_mode)

    def plain_conv(self, layer: nn.Module) -> tuple[str, nn.Module]:
        conv = layer.conv
        plain = {1: nn.Conv1d, 2: nn.Conv2d}[self.dims]
        return "conv.", plain(
            layer.in_channels, layer.out_channels, layer.kernel_size, bias=conv.bias is not None
        )

    def interior(self, layer: nn.Module, y: torch.Tensor) -> torch.Tensor:
        conv, blur = layer.conv, layer.blur
        spans = []
        for n, k, d in zip(CONSTANT_SIZES[self.dims], conv.kernel_size, conv.dilation, strict=True):
            total = d * (k - 1) if conv.padding_mode == "zeros" else 0
            zeros = blur.padding_mode == "zeros"
            spans.append(
                blurred_span(
                    n, total // 2, total - total // 2, blur.filter_size, blur.stride, zeros
                )
            )
        return y[(..., *spans)]


class TestAntiAliasedConv1d(AntiAliasedConvTester):
    layer = AntiAliasedConv1d
    dims = 1
    wrong_rank_message = wrong_rank(1)
    wrong_channels_message = wrong_channels(1)
    bad_inputs = (
        (
            {"kernel_size": 3, "dilation": 2, "padding_mode": "reflect"},
            (1, 4, 2),
            "input of shape (1, 4, 2) is too small for padding_mode='reflect': spatial axis 0 "
            "has size 2, but a filter of size 5 pads it by 2, which must be smaller; use "
            "padding_mode='replicate' or 'zeros'",
        ),
    )
    reprs = (
        (
            {
                "in_channels": 4,
                "out_channels": 6,
                "kernel_size": 5,
                "stride": 3,
                "padding": 2,
                "bias": False,
                "filter_size": 4,
                "blur_padding_mode": "replicate",
            },
            "AntiAliasedConv1d(\n"
            "  stride=3\n"
            "  (conv): Conv1d(4, 6, kernel_size=(5,), stride=(1,), padding=(2,), bias=False)\n"
            "  (blur): BlurPool1d(6, stride=3, filter_size=4, padding_mode='replicate')\n"
            ")",
        ),
    )


class TestAntiAliasedConv2d(AntiAliasedConvTester):
    layer = AntiAliasedConv2d
    dims = 2
    wrong_rank_message = wrong_rank(2)
    wrong_channels_message = wrong_channels(2)
    bad_inputs = (
        (
            {"kernel_size": 3, "dilation": 2, "padding_mode": "reflect"},
            (1, 4, 2, 8),
            "input of shape (1, 4, 2, 8) is too small for padding_mode='reflect': spatial axis 0 "
            "has size 2, but a filter of size 5 pads it by 2, which must be smaller; use "
            "padding_mode='replicate' or 'zeros'",
        ),
    )
    reprs = (
        (
            {"in_channels": 4, "out_channels": 6},
            "AntiAliasedConv2d(\n"
            "  stride=2\n"
            "  (conv): Conv2d(4, 6, kernel_size=(3, 3), stride=(1, 1), padding=same)\n"
            "  (blur): BlurPool2d(6, stride=2, filter_size=3, padding_mode='reflect')\n"
            ")",
        ),
    )
