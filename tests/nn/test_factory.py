"""upsampler/downsampler: every kind maps N to s*N (or N/s), and bad requests say why."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from checkerscope.nn import (
    DOWNSAMPLERS,
    UPSAMPLERS,
    AntiAliasedConv1d,
    AntiAliasedConv2d,
    BlurPool2d,
    ResizeConv1d,
    ResizeConv2d,
    ResizeConv3d,
    SubPixelConv1d,
    SubPixelConv2d,
    SubPixelConv3d,
    downsampler,
    upsampler,
)
from checkerscope.nn.factory import deconv_padding

UP_DIMS = {
    "deconv": (1, 2, 3),
    "resize_conv": (1, 2, 3),
    "bilinear_resize_conv": (1, 2, 3),
    "subpixel": (1, 2, 3),
    "subpixel_icnr": (1, 2, 3),
    "subpixel_blur": (1, 2, 3),
}
DOWN_DIMS = {"strided_conv": (1, 2, 3), "antialiased": (1, 2), "blurpool": (1, 2)}
SIZES = (6, 5, 7)  # one size per spatial axis, not all equal, so axes cannot be swapped


def up_cases() -> list[tuple[str, int, int]]:
    return [(k, d, s) for k in UPSAMPLERS for d in UP_DIMS[k] for s in (1, 2, 3)]


def down_cases() -> list[tuple[str, int, int]]:
    return [(k, d, s) for k in DOWNSAMPLERS for d in DOWN_DIMS[k] for s in (1, 2, 3)]


def test_the_tables_here_cover_every_kind() -> None:
    assert set(UP_DIMS) == set(UPSAMPLERS)
    assert set(DOWN_DIMS) == set(DOWNSAMPLERS)


@pytest.mark.parametrize(("kind", "dims", "s"), up_cases())
def test_upsampler_cardinality(kind: str, dims: int, s: int) -> None:
    if kind == "deconv" and s == 1:  # kernel 2*s = 2 has no symmetric "same" at stride 1
        layer = upsampler(kind, 3, 4, s, dims, kernel_size=3)
    else:
        layer = upsampler(kind, 3, 4, s, dims)
    sizes = SIZES[:dims]
    y = layer(torch.randn(2, 3, *sizes))
    assert y.shape == (2, 4, *(s * n for n in sizes))


@pytest.mark.parametrize(("kind", "dims", "s"), down_cases())
def test_downsampler_cardinality(kind: str, dims: int, s: int) -> None:
    out = 3 if kind == "blurpool" else 4
    layer = downsampler(kind, 3, out, s, dims)
    sizes = tuple(s * n for n in SIZES[:dims])
    y = layer(torch.randn(2, 3, *sizes))
    assert y.shape == (2, out, *SIZES[:dims])


@pytest.mark.parametrize(("k", "s"), list(itertools.product(range(1, 9), range(1, 5))))
def test_deconv_kernel_override_gives_s_times_n_or_says_why(k: int, s: int) -> None:
    # Brute force: does any padding p and output_padding op < s make (N-1)*s - 2p + k + op = s*N?
    n = 5
    possible = any((n - 1) * s - 2 * p + k + op == s * n for p in range(k + 1) for op in range(s))
    if not possible:
        with pytest.raises(ValueError, match=f"kernel_size={k} and scale_factor={s} cannot"):
            upsampler("deconv", 2, 3, s, kernel_size=k)
        return
    padding, output_padding = deconv_padding(k, s)
    layer = upsampler("deconv", 2, 3, s, kernel_size=k)
    assert isinstance(layer, nn.ConvTranspose2d)
    assert (layer.kernel_size, layer.stride) == ((k, k), (s, s))
    assert (layer.padding, layer.output_padding) == ((padding,) * 2, (output_padding,) * 2)
    assert layer(torch.randn(1, 2, n, n + 1)).shape == (1, 3, s * n, s * (n + 1))


def test_deconv_defaults_are_the_usual_ones() -> None:
    layer = upsampler("deconv", 8, 4)
    assert (layer.kernel_size, layer.stride, layer.padding) == ((4, 4), (2, 2), (1, 1))
    assert layer.output_padding == (0, 0)
    k3 = upsampler("deconv", 8, 4, kernel_size=3)
    assert (k3.padding, k3.output_padding) == ((1, 1), (1, 1))


@pytest.mark.parametrize(("k", "s"), list(itertools.product(range(1, 7), range(1, 5))))
def test_strided_conv_kernel_override(k: int, s: int) -> None:
    n = 4
    if k % 2 == 0 and s == 1:
        with pytest.raises(ValueError, match=f"kernel_size={k} and stride=1 cannot map"):
            downsampler("strided_conv", 2, 3, s, kernel_size=k)
        return
    layer = downsampler("strided_conv", 2, 3, s, kernel_size=k)
    assert layer(torch.randn(1, 2, s * n, s * (n + 1))).shape == (1, 3, n, n + 1)


def test_kinds_build_the_layers_they_name() -> None:
    assert isinstance(upsampler("deconv", 2, 3, dims=1), nn.ConvTranspose1d)
    nearest = upsampler("resize_conv", 2, 3, dims=1)
    assert isinstance(nearest, ResizeConv1d) and nearest.mode == "nearest"
    bilinear = upsampler("bilinear_resize_conv", 2, 3)
    assert isinstance(bilinear, ResizeConv2d) and bilinear.mode == "bilinear"
    subpixels = [upsampler(k, 2, 3) for k in ("subpixel", "subpixel_icnr", "subpixel_blur")]
    assert all(isinstance(m, SubPixelConv2d) for m in subpixels)
    assert [(m.init, m.blur) for m in subpixels] == [
        ("default", False),
        ("icnr", False),
        ("default", True),
    ]
    assert isinstance(downsampler("strided_conv", 2, 3), nn.Conv2d)
    assert isinstance(downsampler("antialiased", 2, 3), AntiAliasedConv2d)
    assert isinstance(downsampler("antialiased", 2, 3, dims=1), AntiAliasedConv1d)
    assert isinstance(downsampler("blurpool", 2, 2), BlurPool2d)


def test_subpixel_kinds_exist_in_every_dimension() -> None:
    layers = [upsampler("subpixel_icnr", 2, 3, dims=d) for d in (1, 2, 3)]
    assert [type(m) for m in layers] == [SubPixelConv1d, SubPixelConv2d, SubPixelConv3d]
    assert all(m.init == "icnr" for m in layers)
    assert upsampler("subpixel_blur", 2, 3, dims=3).blur


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_resize_conv_accepts_its_own_mode_by_any_name(dims: int) -> None:
    """ "nearest-exact" is "nearest" at an integer scale, so the nearest kind takes it."""
    for mode in ("nearest", "nearest-exact"):
        layer = upsampler("resize_conv", 2, 3, dims=dims, mode=mode)
        assert isinstance(layer, (ResizeConv1d, ResizeConv2d, ResizeConv3d)[dims - 1])
        assert layer.mode == "nearest"
    assert upsampler("bilinear_resize_conv", 2, 3, mode="bilinear").mode == "bilinear"
    with pytest.raises(ValueError, match="got mode='nearest-exact'"):
        upsampler("bilinear_resize_conv", 2, 3, mode="nearest-exact")


def test_keyword_arguments_reach_the_layer() -> None:
    layer = upsampler("resize_conv", 2, 3, kernel_size=5, padding_mode="zeros", bias=False)
    assert layer.kernel_size == (5, 5) and layer.padding_mode == "zeros" and layer.bias is None
    sub = upsampler("subpixel_icnr", 2, 3, scale_factor=3, kernel_size=1)
    assert sub.kernel_size == (1, 1) and sub.scale_factor == 3
    pool = downsampler("blurpool", 2, 2, stride=3, filter_size=5, padding_mode="zeros")
    assert (pool.stride, pool.filter_size, pool.padding_mode) == (3, 5, "zeros")
    conv = downsampler("strided_conv", 2, 3, kernel_size=4, bias=False)
    assert conv.kernel_size == (4, 4) and conv.padding == (1, 1) and conv.bias is None


# ---------------------------------------------------------------- bad requests


def test_unknown_kind_lists_the_kinds() -> None:
    with pytest.raises(ValueError, match="kind must be one of") as up:
        upsampler("transposed", 2, 3)
    assert all(repr(k) in str(up.value) for k in UPSAMPLERS) and "'transposed'" in str(up.value)
    with pytest.raises(ValueError, match="kind must be one of") as down:
        downsampler("maxpool", 2, 3)
    assert all(repr(k) in str(down.value) for k in DOWNSAMPLERS)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: downsampler("antialiased", 2, 3, dims=3), "no downsampler kind='antialiased'"),
        (lambda: downsampler("antialiased", 2, 3, dims=3), "dims=3: it exists for dims=1, 2"),
        (lambda: downsampler("blurpool", 2, 2, dims=3), "no downsampler kind='blurpool'"),
        (lambda: upsampler("deconv", 2, 3, dims=4), "dims must be one of 1, 2, 3, got 4"),
        (lambda: upsampler("deconv", 0, 3), "in_channels must be a positive integer, got 0"),
        (lambda: upsampler("deconv", 2, 3, 0), "scale_factor must be an integer >= 1, got 0"),
        (lambda: downsampler("antialiased", 2, 0), "out_channels must be a positive integer"),
        (lambda: downsampler("strided_conv", 2, 3, 0), "stride must be a positive integer"),
        (lambda: upsampler("deconv", 2, 3, padding=0), "sets stride, padding, output_padding"),
        (lambda: upsampler("subpixel_icnr", 2, 3, init="default"), r"got init='default'"),
        (lambda: upsampler("resize_conv", 2, 3, mode="bilinear"), "got mode='bilinear'"),
        (lambda: downsampler("blurpool", 2, 3), "in_channels=2 and out_channels=3"),
        (lambda: upsampler("deconv", 2, 3, kernel_size=0), "kernel_size must be a positive"),
    ],
)
def test_bad_requests_say_why(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()
