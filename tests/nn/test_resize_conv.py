"""ResizeConv1d/2d/3d: the shared layer checks, and the fused path against the reference."""

from __future__ import annotations

import itertools
from typing import Any, ClassVar

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from checkerscope.functional.resize_conv import (
    IMPLS,
    MODES,
    PADDING_MODES,
    fused_supported,
    resize_conv_reference,
    same_padding,
)
from checkerscope.nn import ResizeConv1d, ResizeConv2d, ResizeConv3d

from .layer_tester import (
    CONSTANT_SIZES,
    DEVICES,
    GRADCHECK_SIZES,
    SIZES,
    Configs,
    Grid,
    LayerTester,
    crop,
)

CONVS = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
LAYERS = {1: ResizeConv1d, 2: ResizeConv2d, 3: ResizeConv3d}


def pair(**kwargs: object) -> tuple[ResizeConv2d, ResizeConv2d]:
    """A fused and a reference layer with the same parameters."""
    fused = ResizeConv2d(impl="fused", **kwargs)  # type: ignore[arg-type]
    reference = ResizeConv2d(impl="reference", **kwargs)  # type: ignore[arg-type]
    reference.load_state_dict(fused.state_dict())
    return fused, reference


# --------------------------------------------------------------------- shared layer checks


def reflect_too_narrow(shape: tuple[int, ...]) -> str:
    return (
        "padding_mode='reflect' with kernel_size=5 pads 2 on spatial axis 0, which needs an "
        f"upsampled size > 2, but the input of shape {shape} upsamples to 2 there; use a "
        "larger input or padding_mode='replicate'"
    )


class ResizeConvTester(LayerTester):
    upsamples = True
    configs: ClassVar[Configs] = {
        **{f"{m}-{impl}": {"mode": m, "impl": impl} for m in MODES for impl in IMPLS},
        **{
            f"{m}-{pad}": {"mode": m, "padding_mode": pad, "impl": "fused"}
            for m in MODES
            for pad in ("replicate", "zeros")
        },
        "no-bias": {"mode": "bilinear", "bias": False, "impl": "fused"},
        "nearest-exact": {"mode": "nearest-exact", "impl": "fused"},
    }
    grid: ClassVar[Grid] = {"kernel_size": (1, 2, 3)}
    bad_arguments = (
        ({"in_channels": 0, "out_channels": 2}, "in_channels must be a positive integer, got 0"),
        ({"in_channels": 4, "out_channels": -2}, "out_channels must be a positive integer, got -2"),
        (
            {"in_channels": 4, "out_channels": 2, "kernel_size": 0},
            "kernel_size must be a positive integer, got 0",
        ),
        (
            {"in_channels": 4, "out_channels": 2, "scale_factor": 0},
            "scale_factor must be an integer >= 1, got 0",
        ),
        (
            {"in_channels": 4, "out_channels": 2, "scale_factor": 2.5},
            "scale_factor must be an integer >= 1, got 2.5",
        ),
        (
            {"in_channels": 4, "out_channels": 2, "scale_factor": "2"},
            "scale_factor must be an integer >= 1, got '2'",
        ),
        (
            {"in_channels": 4, "out_channels": 2, "mode": "bicubic"},
            "mode must be one of 'nearest', 'bilinear', got 'bicubic'",
        ),
        (
            {"in_channels": 4, "out_channels": 2, "padding_mode": "circular"},
            "padding_mode must be one of 'reflect', 'replicate', 'zeros', got 'circular'",
        ),
        (
            {"in_channels": 4, "out_channels": 2, "impl": "cuda"},
            "impl must be one of 'auto', 'fused', 'reference', got 'cuda'",
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
        return self.layer(in_channels, out_channels, scale_factor=scale, **config, **factory)

    def functional(self, layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return resize_conv_reference(
            x, layer.weight, layer.bias, layer.scale_factor, layer.mode, layer.padding_mode
        )

    def plain_conv(self, layer: nn.Module) -> tuple[str, nn.Module]:
        bias = layer.bias is not None
        conv = CONVS[self.dims](layer.in_channels, layer.out_channels, layer.kernel_size, bias=bias)
        return "", conv

    def interior(self, layer: nn.Module, y: torch.Tensor) -> torch.Tensor:
        if layer.padding_mode != "zeros":
            return y
        before, after = zip(*(same_padding(k) for k in layer.kernel_size), strict=True)
        return crop(y, before, after)


class TestResizeConv1d(ResizeConvTester):
    layer = ResizeConv1d
    dims = 1
    slow_configs = ("bilinear-fused",)
    wrong_rank_message = (
        "input must have shape (N, C, W) with 3 dimensions, got a tensor of shape (3, 5)"
    )
    wrong_channels_message = (
        "input has 5 channels (shape (1, 5, 5)), but the layer expects in_channels=4"
    )
    bad_inputs = (
        ({"kernel_size": 5, "padding_mode": "reflect"}, (1, 4, 1), reflect_too_narrow((1, 4, 1))),
    )
    reprs = (
        (
            {"in_channels": 8, "out_channels": 4},
            "ResizeConv1d(8, 4, kernel_size=(3,), scale_factor=2, mode='nearest', "
            "padding_mode='reflect', impl='auto')",
        ),
    )


class TestResizeConv2d(ResizeConvTester):
    layer = ResizeConv2d
    dims = 2
    slow_configs = ("bilinear-fused", "bilinear-reference")
    wrong_rank_message = (
        "input must have shape (N, C, H, W) with 4 dimensions, got a tensor of shape (3, 5, 4)"
    )
    wrong_channels_message = (
        "input has 5 channels (shape (1, 5, 5, 4)), but the layer expects in_channels=4"
    )
    bad_inputs = (
        (
            {"kernel_size": 5, "padding_mode": "reflect"},
            (1, 4, 1, 8),
            reflect_too_narrow((1, 4, 1, 8)),
        ),
    )
    bad_arguments = (
        *ResizeConvTester.bad_arguments,
        (
            {"in_channels": 4, "out_channels": 2, "kernel_size": (3, 0)},
            "kernel_size must be a positive integer, got 0",
        ),
        (
            {"in_channels": 4, "out_channels": 2, "kernel_size": (3, 3, 3)},
            "kernel_size must be an int or a sequence of 2 ints, got (3, 3, 3)",
        ),
    )
    reprs = (
        (
            {
                "in_channels": 8,
                "out_channels": 4,
                "kernel_size": 5,
                "scale_factor": 3,
                "mode": "bilinear",
                "padding_mode": "zeros",
                "bias": False,
                "impl": "fused",
            },
            "ResizeConv2d(8, 4, kernel_size=(5, 5), scale_factor=3, mode='bilinear', "
            "padding_mode='zeros', bias=False, impl='fused')",
        ),
    )


class TestResizeConv3d(ResizeConvTester):
    layer = ResizeConv3d
    dims = 3
    slow_configs = ("nearest-fused",)
    onnx_configs = ("nearest-fused", "bilinear-fused", "bilinear-replicate", "bilinear-reference")
    wrong_rank_message = (
        "input must have shape (N, C, D, H, W) with 5 dimensions, got a tensor of shape "
        "(3, 5, 4, 3)"
    )
    wrong_channels_message = (
        "input has 5 channels (shape (1, 5, 5, 4, 3)), but the layer expects in_channels=4"
    )
    bad_inputs = (
        (
            {"kernel_size": 5, "padding_mode": "reflect"},
            (1, 4, 1, 3, 3),
            reflect_too_narrow((1, 4, 1, 3, 3)),
        ),
    )
    reprs = (
        (
            {"in_channels": 2, "out_channels": 6, "kernel_size": (1, 2, 3), "mode": "bilinear"},
            "ResizeConv3d(2, 6, kernel_size=(1, 2, 3), scale_factor=2, mode='bilinear', "
            "padding_mode='reflect', impl='auto')",
        ),
    )


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_shared_checks_take_the_fused_path(dims: int) -> None:
    """The inputs of the shared checks are large enough that "fused" is not the reference.

    (At scale_factor=1 small inputs do fall back; "auto" runs the reference there anyway.)
    """
    sizes = (SIZES[dims][0], GRADCHECK_SIZES[dims], CONSTANT_SIZES[dims])
    for size, k, s, mode, padding_mode in itertools.product(
        sizes, (1, 2, 3), (2, 3), MODES, PADDING_MODES
    ):
        assert fused_supported((k,) * dims, size, s, mode, padding_mode), (size, k, s, mode)


# ------------------------------------------------------------------ fused == reference, as layers


def test_bias_false_and_tuple_kernel() -> None:
    fused, reference = pair(
        in_channels=3, out_channels=2, kernel_size=(5, 2), mode="bilinear", bias=False
    )
    assert fused.bias is None
    x = torch.randn(1, 3, 6, 7)
    torch.testing.assert_close(fused(x), reference(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("device", DEVICES)
def test_bfloat16_channels_last_fused_close_to_float32_reference(device: str) -> None:
    torch.manual_seed(1)
    fused, reference = pair(in_channels=16, out_channels=8)
    x = torch.randn(2, 16, 9, 8)
    want = reference(x)
    fused = fused.to(device=device, dtype=torch.bfloat16, memory_format=torch.channels_last)
    x = x.to(device=device, dtype=torch.bfloat16, memory_format=torch.channels_last)
    got = fused(x)
    assert got.dtype == torch.bfloat16
    torch.testing.assert_close(got.float().cpu(), want, atol=0.05, rtol=0.05)


def test_backward_reaches_every_parameter() -> None:
    fused, reference = pair(in_channels=3, out_channels=2, mode="bilinear")
    x = torch.randn(2, 3, 5, 6)
    fused(x).square().sum().backward()
    reference(x).square().sum().backward()
    for name, p in fused.named_parameters():
        torch.testing.assert_close(p.grad, reference.get_parameter(name).grad, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("s", [1, 2, 3, 4])
def test_nearest_exact_is_nearest_at_integer_scales(dims: int, s: int) -> None:
    """torch's own "nearest-exact" upsampling, then the same padding and convolution, is the
    layer built with mode="nearest-exact" (which it stores as "nearest")."""
    torch.manual_seed(s)
    layer = LAYERS[dims](3, 2, 3, s, mode="nearest-exact", dtype=torch.float64)
    assert layer.mode == "nearest" and "mode='nearest'" in repr(layer)
    x = torch.randn(2, 3, *(5, 4, 3)[:dims], dtype=torch.float64)
    up = F.interpolate(x, scale_factor=float(s), mode="nearest-exact")
    padded = F.pad(up, (1, 1) * dims, mode="reflect")
    want = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[dims](padded, layer.weight, layer.bias)
    torch.testing.assert_close(layer(x), want)


def test_resize_conv_at_scale_1_is_a_same_conv() -> None:
    """With nothing to upsample, the layer is the nn.Conv2d that shares its state dict."""
    layer = ResizeConv2d(3, 2, 3, scale_factor=1, padding_mode="zeros", impl="fused")
    conv = nn.Conv2d(3, 2, 3, padding="same")
    conv.load_state_dict(layer.state_dict())
    x = torch.randn(2, 3, 7, 6)
    torch.testing.assert_close(layer(x), conv(x), atol=1e-5, rtol=1e-5)
