"""SubPixelConv2d, ICNR and the zero-order-hold blur: checked against independent computations."""

from __future__ import annotations

import math
import warnings
from typing import Any, ClassVar

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from checkerscope.functional.resize_conv import resize_conv_reference
from checkerscope.functional.subpixel import (
    icnr_,
    icnr_weight,
    nearest_resize_conv_weight,
    subpixel_conv2d,
)
from checkerscope.nn import ResizeConv2d, SubPixelConv2d

from .layer_tester import Configs, Grid, LayerTester, crop


def sub_kernel_and_bias(layer: SubPixelConv2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Phase 0 of every output channel: the w0, b0 that ICNR copied."""
    phases = layer.scale_factor**2
    return layer.conv.weight[::phases], layer.conv.bias[::phases]


def nearest_of_conv(x: torch.Tensor, w0: torch.Tensor, b0: torch.Tensor, s: int) -> torch.Tensor:
    return F.interpolate(F.conv2d(x, w0, b0, padding="same"), scale_factor=s, mode="nearest")


def interior(y: torch.Tensor, margin: int) -> torch.Tensor:
    return y[..., margin:-margin, margin:-margin] if margin else y


# ---------------------------------------------------------------- ICNR: the two equalities


@settings(max_examples=40, deadline=None)
@given(
    k=st.integers(1, 5),
    s=st.integers(1, 4),
    h=st.integers(1, 7),
    w=st.integers(1, 7),
    seed=st.integers(0, 2**16),
)
def test_icnr_equals_nearest_upsample_of_conv(k: int, s: int, h: int, w: int, seed: int) -> None:
    torch.manual_seed(seed)
    layer = SubPixelConv2d(3, 2, kernel_size=k, scale_factor=s, init="icnr")
    x = torch.randn(2, 3, h, w)
    w0, b0 = sub_kernel_and_bias(layer)
    with warnings.catch_warnings():  # even k: torch warns that "same" pads a copy
        warnings.simplefilter("ignore", UserWarning)
        expected = nearest_of_conv(x, w0, b0, s)
        got = layer(x)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


@settings(max_examples=40, deadline=None)
@given(
    k=st.integers(1, 5),
    s=st.integers(1, 4),
    h=st.integers(1, 7),
    w=st.integers(1, 7),
    seed=st.integers(0, 2**16),
)
def test_icnr_equals_nearest_resize_conv(k: int, s: int, h: int, w: int, seed: int) -> None:
    torch.manual_seed(seed)
    layer = SubPixelConv2d(3, 2, kernel_size=k, scale_factor=s, init="icnr")
    w0, b0 = sub_kernel_and_bias(layer)
    hr_kernel = nearest_resize_conv_weight(w0.detach(), s)
    resize = ResizeConv2d(
        3, 2, hr_kernel.shape[-1], s, mode="nearest", padding_mode="zeros", impl="reference"
    )
    with torch.no_grad():
        resize.weight.copy_(hr_kernel)
        resize.bias.copy_(b0)
    x = torch.randn(2, 3, h, w)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        got = layer(x)
    torch.testing.assert_close(got, resize(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("s", [2, 3])
def test_odd_kernel_resize_conv_weight_is_the_plain_dilation(s: int) -> None:
    w0 = torch.randn(2, 3, 3, 3)
    dilated = torch.zeros(2, 3, s * 2 + 1, s * 2 + 1)
    dilated[..., ::s, ::s] = w0
    assert torch.equal(nearest_resize_conv_weight(w0, s), dilated)


def test_even_kernel_plain_dilation_is_off_the_block_grid() -> None:
    # Why even k needs the s-1 leading zeros: the plain dilation is not the same operator.
    torch.manual_seed(0)
    s, k = 2, 4
    w0, b0 = torch.randn(2, 3, k, k), torch.randn(2)
    plain = torch.zeros(2, 3, s * (k - 1) + 1, s * (k - 1) + 1)
    plain[..., ::s, ::s] = w0
    x = torch.randn(1, 3, 6, 6)
    target = resize_conv_reference(x, nearest_resize_conv_weight(w0, s), b0, s, "nearest", "zeros")
    off = resize_conv_reference(x, plain, b0, s, "nearest", "zeros")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        torch.testing.assert_close(target, nearest_of_conv(x, w0, b0, s))
    assert (off - target).abs().max() > 0.1


def test_icnr_copies_bias_and_weight_into_every_phase() -> None:
    layer = SubPixelConv2d(4, 3, scale_factor=3)
    weight = layer.conv.weight.view(3, 9, 4, 3, 3)
    bias = layer.conv.bias.view(3, 9)
    assert torch.equal(weight, weight[:, :1].expand_as(weight))
    assert torch.equal(bias, bias[:, :1].expand_as(bias))
    assert bias.std(dim=0).min() > 0  # channels still differ from each other


def test_icnr_init_has_the_scale_of_nn_conv2d() -> None:
    torch.manual_seed(0)
    layer = SubPixelConv2d(16, 8, kernel_size=3)
    bound = 1 / math.sqrt(16 * 9)  # kaiming_uniform(a=sqrt(5)) and the bias both use this
    w0, b0 = sub_kernel_and_bias(layer)
    assert w0.abs().max() <= bound and w0.abs().max() > 0.9 * bound
    assert b0.abs().max() <= bound
    torch.testing.assert_close(w0.std().item(), bound / math.sqrt(3), rtol=0.1, atol=0)


def test_icnr_weight_matches_pixel_shuffle_order() -> None:
    # Brute force: pixel_shuffle sends channel c*s*s + i*s + j to channel c, phase (i, j).
    w0 = torch.randn(2, 3, 3, 3)
    expanded = icnr_weight(w0, 2)
    for c in range(2):
        for i in range(2):
            for j in range(2):
                assert torch.equal(expanded[c * 4 + i * 2 + j], w0[c])


def test_icnr_uses_the_given_init() -> None:
    weight = torch.empty(8, 3, 3, 3)
    icnr_(weight, 2, init=nn.init.ones_)
    assert torch.equal(weight, torch.ones(8, 3, 3, 3))


def test_icnr_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match=r"divisible by 4, got shape \(6, 3, 3, 3\)"):
        icnr_(torch.empty(6, 3, 3, 3), 2)
    with pytest.raises(ValueError, match=r"bias must have shape \(8,\).*got \(4,\)"):
        icnr_(torch.empty(8, 3, 3, 3), 2, bias=torch.empty(4))
    with pytest.raises(ValueError, match="scale_factor must be an integer >= 1, got 0"):
        icnr_(torch.empty(8, 3, 3, 3), 0)


# ---------------------------------------------------------------- default init: a checkerboard


def test_default_init_maps_a_constant_to_a_checkerboard() -> None:
    torch.manual_seed(0)
    layer = SubPixelConv2d(2, 3, kernel_size=3, scale_factor=2, init="default")
    inner = interior(layer(torch.ones(1, 2, 8, 8)), 2).detach()
    spread = inner.flatten(2).std(dim=-1)
    assert spread.min() > 1e-2
    # ... and the pattern repeats with period s: it is made of the s*s phases.
    torch.testing.assert_close(inner[..., :-2, :], inner[..., 2:, :])


# ---------------------------------------------------------------- independent references


def test_default_init_equals_a_transposed_conv_with_kernel_s_times_k() -> None:
    # Sub-pixel conv with an odd k is a stride-s ConvTranspose2d of kernel s*k (the article's
    # "kernel size divisible by the stride"); tap (s*(k-1-a) + i, s*(k-1-b) + j) of its kernel
    # is tap (a, b) of phase (i, j).
    torch.manual_seed(0)
    s, k, cin, cout = 2, 3, 3, 2
    layer = SubPixelConv2d(cin, cout, kernel_size=k, scale_factor=s, init="default")
    w = layer.conv.weight.detach().view(cout, s, s, cin, k, k)
    deconv = torch.zeros(cin, cout, s * k, s * k)
    for a in range(k):
        for b in range(k):
            for i in range(s):
                for j in range(s):
                    tap = w[:, i, j, :, a, b].T
                    deconv[:, :, s * (k - 1 - a) + i, s * (k - 1 - b) + j] = tap
    x = torch.randn(2, cin, 5, 6)
    phase_bias = layer.conv.bias.detach().view(cout, s, s).repeat(1, 5, 6)
    expected = F.conv_transpose2d(x, deconv, None, s, s * (k - 1) // 2) + phase_bias
    torch.testing.assert_close(layer(x), expected, atol=1e-5, rtol=1e-5)


def test_blur_is_a_2x2_mean_after_a_plain_conv2d() -> None:
    layer = SubPixelConv2d(4, 3, blur=True, init="default")
    plain = nn.Conv2d(4, 12, 3, padding=1)
    plain.load_state_dict({k.removeprefix("conv."): t for k, t in layer.state_dict().items()})
    x = torch.randn(1, 4, 5, 5)
    shuffled = F.pixel_shuffle(plain(x), 2)
    # Each output is the mean of the 2x2 window starting at it; the far edges repeat.
    expected = F.avg_pool2d(F.pad(shuffled, (0, 1, 0, 1), mode="replicate"), 2, stride=1)
    torch.testing.assert_close(layer(x), expected)


# ---------------------------------------------------------------- shared layer checks


def bad(keywords: dict[str, Any], message: str) -> tuple[dict[str, Any], str]:
    return {"in_channels": 4, "out_channels": 3, **keywords}, message


# Even kernels: torch warns that padding="same" pads a copy of the input.
@pytest.mark.filterwarnings("ignore:Using padding='same'")
class TestSubPixelConv2d(LayerTester):
    layer = SubPixelConv2d
    dims = 2
    upsamples = True
    configs: ClassVar[Configs] = {
        "icnr": {},
        "default": {"init": "default"},
        "icnr-blur": {"blur": True},
        "default-blur": {"init": "default", "blur": True},
        "default-blur-reflect": {"init": "default", "blur": True, "padding_mode": "reflect"},
        "icnr-reflect": {"padding_mode": "reflect"},
        "icnr-replicate": {"padding_mode": "replicate"},
        "icnr-circular": {"padding_mode": "circular"},
        "no-bias": {"bias": False},
    }
    slow_configs = ("default-blur",)
    checkerboard_configs = ("default",)  # test_default_init_maps_a_constant_to_a_checkerboard
    grid: ClassVar[Grid] = {"kernel_size": (1, 3, 4, (3, 5))}
    scales = (1, 2, 3, 4)
    wrong_rank_message = (
        "input must have shape (N, C, H, W) with 4 dimensions, got a tensor of shape (3, 5, 4)"
    )
    wrong_channels_message = (
        "input has 5 channels (shape (1, 5, 5, 4)), but the layer expects in_channels=4"
    )
    bad_inputs = (
        (
            {"kernel_size": 5, "padding_mode": "reflect"},
            (1, 4, 2, 8),
            "input of shape (1, 4, 2, 8) is too small for padding_mode='reflect': spatial axis 0 "
            "has size 2, but a filter of size 5 pads it by 2, which must be smaller; use "
            "padding_mode='replicate' or 'zeros'",
        ),
    )
    bad_arguments = (
        bad({"in_channels": 0}, "in_channels must be a positive integer, got 0"),
        bad({"out_channels": -1}, "out_channels must be a positive integer, got -1"),
        bad({"kernel_size": 0}, "kernel_size must be a positive integer, got 0"),
        bad(
            {"kernel_size": (3, 3, 3)},
            "kernel_size must be an int or a sequence of 2 ints, got (3, 3, 3)",
        ),
        bad({"scale_factor": 0}, "scale_factor must be an integer >= 1, got 0"),
        bad({"scale_factor": 1.5}, "scale_factor must be an integer >= 1, got 1.5"),
        bad({"init": "orthogonal"}, "init must be one of 'icnr', 'default', got 'orthogonal'"),
        bad({"blur": "yes"}, "blur must be True or False, got 'yes'"),
        bad(
            {"padding_mode": "mirror"},
            "padding_mode must be one of 'zeros', 'reflect', 'replicate', 'circular', got 'mirror'",
        ),
        bad({"bias": 1}, "bias must be True or False, got 1"),
    )
    reprs = (
        (
            {
                "in_channels": 4,
                "out_channels": 3,
                "kernel_size": 5,
                "scale_factor": 3,
                "init": "default",
                "blur": True,
                "padding_mode": "reflect",
            },
            "SubPixelConv2d(\n"
            "  4, 3, kernel_size=(5, 5), scale_factor=3, init='default', blur=True, "
            "padding_mode='reflect'\n"
            "  (conv): Conv2d(4, 27, kernel_size=(5, 5), stride=(1, 1), padding=same, "
            "padding_mode=reflect)\n"
            ")",
        ),
        (
            {"in_channels": 4, "out_channels": 3, "bias": False},
            "SubPixelConv2d(\n"
            "  4, 3, kernel_size=(3, 3), scale_factor=2, init='icnr', blur=False, "
            "padding_mode='zeros', bias=False\n"
            "  (conv): Conv2d(4, 12, kernel_size=(3, 3), stride=(1, 1), padding=same, "
            "bias=False)\n"
            ")",
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
        return SubPixelConv2d(in_channels, out_channels, scale_factor=scale, **config, **factory)

    def functional(self, layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
        conv = layer.conv
        return subpixel_conv2d(
            x, conv.weight, conv.bias, layer.scale_factor, layer.padding_mode, layer.blur
        )

    def plain_conv(self, layer: nn.Module) -> tuple[str, nn.Module]:
        channels = layer.out_channels * layer.scale_factor**2
        bias = layer.conv.bias is not None
        return "conv.", nn.Conv2d(layer.in_channels, channels, layer.kernel_size, bias=bias)

    def interior(self, layer: nn.Module, y: torch.Tensor) -> torch.Tensor:
        # Zero padding reaches (k-1)//2 low-resolution samples in before, the rest after; the
        # blur's window then reaches (s-1)//2 before and the rest after (replicate-padded
        # edges repeat one phase, not a whole period).
        s, zeros = layer.scale_factor, layer.padding_mode == "zeros"
        before, after = [], []
        for k in layer.kernel_size:
            left = (k - 1) // 2 if zeros else 0
            right = k - 1 - (k - 1) // 2 if zeros else 0
            before.append(s * left + ((s - 1) // 2 if layer.blur else 0))
            after.append(s * right + (s - 1 - (s - 1) // 2 if layer.blur else 0))
        return crop(y, tuple(before), tuple(after))
