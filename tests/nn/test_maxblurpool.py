"""MaxBlurPool: the fast path against its slow reference (values and gradients), its output
size against nn.MaxPool's for every input size and geometry, and the shared layer checks."""

from __future__ import annotations

import itertools
from typing import Any, ClassVar

import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn

from checkerscope.functional.blurpool import blur_pool
from checkerscope.functional.maxblurpool import (
    ceil_tails,
    check_sizes,
    max_blur_pool,
    max_blur_pool_reference,
    max_pool_size,
)
from checkerscope.nn import MaxBlurPool1d, MaxBlurPool2d

from .layer_tester import CONSTANT_SIZES, Configs, Grid, LayerTester
from .test_blurpool import blurred_span, wrong_channels, wrong_rank

MAX_POOL = {1: nn.MaxPool1d, 2: nn.MaxPool2d}
MAX_BLUR_POOL = {1: MaxBlurPool1d, 2: MaxBlurPool2d}


def geometries() -> list[tuple[int, int, int, int, bool]]:
    """(kernel, stride, padding, dilation, ceil_mode) that nn.MaxPool accepts."""
    grid = itertools.product(range(1, 6), range(1, 4), range(3), (1, 2), (False, True))
    return [g for g in grid if 2 * g[2] <= g[0]]


# ---------------------------------------------------------------- sizes


@pytest.mark.parametrize("dims", [1, 2])
def test_output_size_is_the_max_pools_for_every_geometry_and_size(dims: int) -> None:
    """Every geometry nn.MaxPool accepts, every size 1..13 where it gives a finite output
    (a window wholly in the padding gives -inf there): the same size, and a finite result."""
    checked = 0
    for k, s, p, d, ceil_mode in geometries():
        pool = MAX_POOL[dims](k, s, p, d, ceil_mode=ceil_mode)
        layer = MAX_BLUR_POOL[dims](None, k, s, p, d, ceil_mode, padding_mode="replicate")
        for n in range(1, 14):
            x = torch.randn(1, 2, *(n, n + 1)[:dims])
            try:
                want = pool(x)
            except RuntimeError:  # torch refuses the size: so must we
                with pytest.raises(ValueError, match="is too small for kernel_size"):
                    layer(x)
                continue
            if not torch.isfinite(want).all():
                continue
            got = layer(x)
            assert got.shape == want.shape, (k, s, p, d, ceil_mode, n)
            assert torch.isfinite(got).all()
            assert max_pool_size(n, k, s, p, d, ceil_mode) == want.shape[2]
            checked += 1
    assert checked > 700


# ---------------------------------------------------------------- fast == reference


@settings(max_examples=60, deadline=None)
@given(
    dims=st.sampled_from([1, 2]),
    geometry=st.sampled_from(geometries()),
    filter_size=st.integers(1, 5),
    mode=st.sampled_from(["reflect", "replicate", "zeros"]),
    size=st.integers(6, 11),
    seed=st.integers(0, 2**16),
)
def test_fast_equals_reference_in_values_and_gradients(
    dims: int, geometry: tuple, filter_size: int, mode: str, size: int, seed: int
) -> None:
    k, s, p, d, ceil_mode = geometry
    kernel, padding, dilation = (k,) * dims, (p,) * dims, (d,) * dims
    torch.manual_seed(seed)
    x = torch.randn(2, 3, *(size, size + 1)[:dims], dtype=torch.float64, requires_grad=True)
    tails = ceil_tails(x, kernel, s, padding, dilation, ceil_mode)
    try:
        check_sizes(x, kernel, padding, dilation, tails, filter_size, mode)
    except ValueError:
        assume(False)  # the layer refuses it (tested above)
    args = (kernel, s, padding, dilation, ceil_mode, filter_size, mode)
    fast, ref = max_blur_pool(x, *args), max_blur_pool_reference(x, *args)
    assume(bool(torch.isfinite(fast).all()))  # a window wholly in the padding: -inf, as torch
    torch.testing.assert_close(fast, ref)
    upstream = torch.randn_like(fast)
    (g_fast,) = torch.autograd.grad(fast, x, upstream)
    (g_ref,) = torch.autograd.grad(ref, x, upstream)
    torch.testing.assert_close(g_fast, g_ref)


def test_it_is_a_stride_1_max_pool_then_blur_pool() -> None:
    """Zhang's recipe spelled with torch's own layers: nn.MaxPool2d(2, stride=1), then a
    blur-pool by 2 (floor mode, where nothing goes past the end)."""
    x = torch.randn(2, 3, 12, 9, dtype=torch.float64)
    expected = blur_pool(nn.MaxPool2d(2, stride=1)(x), 2, 3, "reflect")
    torch.testing.assert_close(MaxBlurPool2d(3)(x), expected)


def test_ceil_mode_partial_windows_take_the_max_of_what_they_hold() -> None:
    # Length 5, k=2, s=2, ceil mode: the third window holds sample 4 only.
    x = torch.tensor([[[0.0, 4.0, 1.0, 2.0, 9.0]]], dtype=torch.float64)
    dense = [4.0, 4.0, 2.0, 9.0, 9.0]  # stride-1 maxima, the last over [9] alone
    expected = blur_pool(torch.tensor([[dense]], dtype=torch.float64), 2, 3, "replicate")
    got = MaxBlurPool1d(1, 2, 2, ceil_mode=True, padding_mode="replicate")(x)
    torch.testing.assert_close(got, expected)
    assert got.shape == nn.MaxPool1d(2, 2, ceil_mode=True)(x).shape == (1, 1, 3)


def test_the_alias_a_max_pool_makes_is_halved() -> None:
    """A spike every 4 samples: nn.MaxPool1d(2) turns it into the output's highest frequency,
    1, 0, 1, 0 (an alias, which flips when the input moves by one sample); MaxBlurPool's
    binomial taps pass that frequency at half amplitude: 0.75, 0.25, exactly."""
    x = torch.tensor([0.0, 1.0, 0.0, 0.0] * 4, dtype=torch.float64).view(1, 1, 16)
    pooled = nn.MaxPool1d(2)(x)[0, 0, 1:-1]
    blurred = MaxBlurPool1d(1)(x)[0, 0, 1:-1]
    torch.testing.assert_close(pooled, torch.tensor([0.0, 1.0] * 3, dtype=torch.float64))
    torch.testing.assert_close(blurred, torch.tensor([0.25, 0.75] * 3, dtype=torch.float64))


def test_channels_none_accepts_any_channel_count() -> None:
    layer = MaxBlurPool2d(None)
    for c in (1, 3, 7):
        assert layer(torch.randn(1, c, 8, 8)).shape == (1, c, 4, 4)


# ---------------------------------------------------------------- shared layer checks


class MaxBlurPoolTester(LayerTester):
    upsamples = False
    # Geometries of size ceil(n / s), the shared shape grid's rule (the test above covers the
    # others against nn.MaxPool).
    configs: ClassVar[Configs] = {
        "k3p1-reflect": {"kernel_size": 3, "padding": 1},
        "k3p1-replicate": {"kernel_size": 3, "padding": 1, "padding_mode": "replicate"},
        "k3p1-zeros": {"kernel_size": 3, "padding": 1, "padding_mode": "zeros"},
        "k5p2": {"kernel_size": 5, "padding": 2},
        "k1": {"kernel_size": 1},
    }
    slow_configs = ("k3p1-reflect",)
    grid: ClassVar[Grid] = {"filter_size": (1, 2, 3, 4, 5)}
    scales = (1, 2, 3, 4)
    channels = ((1, 1), (4, 4))  # pooling keeps the channels

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
        return max_blur_pool_reference(
            x,
            layer.kernel_size,
            layer.stride,
            layer.padding,
            layer.dilation,
            layer.ceil_mode,
            layer.filter_size,
            layer.padding_mode,
        )

    def plain_conv(self, layer: nn.Module) -> None:
        return None  # the filter is a non-persistent buffer: no state

    def interior(self, layer: nn.Module, y: torch.Tensor) -> torch.Tensor:
        if layer.padding_mode != "zeros":
            return y
        spans = (
            blurred_span(n, 0, 0, layer.filter_size, layer.stride, zeros=True)
            for n in CONSTANT_SIZES[self.dims]  # these geometries keep the size at stride 1
        )
        return y[(..., *spans)]


def bad_arguments(dims: int) -> tuple[tuple[dict[str, Any], str], ...]:
    return (
        ({"channels": 0}, "channels must be a positive integer, got 0"),
        ({"channels": 4, "kernel_size": 0}, "kernel_size must be a positive integer, got 0"),
        ({"channels": 4, "stride": 0}, "stride must be a positive integer, got 0"),
        ({"channels": 4, "padding": -1}, "padding must be a non-negative integer, got -1"),
        (
            {"channels": 4, "kernel_size": 2, "padding": 2},
            f"padding must be at most half of kernel_size, as in nn.MaxPool{dims}d, got "
            "padding=2 with kernel_size=2",
        ),
        ({"channels": 4, "dilation": 0}, "dilation must be a positive integer, got 0"),
        ({"channels": 4, "ceil_mode": 1}, "ceil_mode must be True or False, got 1"),
        ({"channels": 4, "filter_size": 0}, "filter_size must be a positive integer, got 0"),
        (
            {"channels": 4, "padding_mode": "circular"},
            "padding_mode must be one of 'reflect', 'replicate', 'zeros', got 'circular'",
        ),
    )


def too_small(dims: int) -> tuple[dict[str, Any], tuple[int, ...], str]:
    shape = (1, 4, 1, 8)[: dims + 2]
    return (
        {"kernel_size": 3, "padding": 1, "padding_mode": "reflect"},
        shape,
        f"input of shape {shape} is too small for padding_mode='reflect': spatial axis 0 has "
        "size 1, which the stride-1 max pool turns into 1, but a filter of size 3 pads it by 1, "
        "which must be smaller; use padding_mode='replicate' or 'zeros'",
    )


def empty(dims: int) -> tuple[dict[str, Any], tuple[int, ...], str]:
    shape = (1, 4, 2, 8)[: dims + 2]
    return (
        {"kernel_size": 5, "padding": 1, "padding_mode": "zeros"},
        shape,
        f"input of shape {shape} is too small for kernel_size=5, padding=1, dilation=1: spatial "
        "axis 0 has size 2, but the max pool needs at least 3",
    )


class TestMaxBlurPool1d(MaxBlurPoolTester):
    layer = MaxBlurPool1d
    dims = 1
    wrong_rank_message = wrong_rank(1)
    wrong_channels_message = wrong_channels(1)
    bad_inputs = (too_small(1), empty(1))
    bad_arguments = bad_arguments(1)
    reprs = (
        (
            {"channels": 4, "kernel_size": 3, "stride": 3, "padding": 1, "ceil_mode": True},
            "MaxBlurPool1d(4, kernel_size=(3,), stride=3, padding=(1,), dilation=(1,), "
            "ceil_mode=True, filter_size=3, padding_mode='reflect')",
        ),
    )


class TestMaxBlurPool2d(MaxBlurPoolTester):
    layer = MaxBlurPool2d
    dims = 2
    wrong_rank_message = wrong_rank(2)
    wrong_channels_message = wrong_channels(2)
    bad_inputs = (too_small(2), empty(2))
    bad_arguments = bad_arguments(2)
    reprs = (
        (
            {"channels": 4},
            "MaxBlurPool2d(4, kernel_size=(2, 2), stride=2, padding=(0, 0), dilation=(1, 1), "
            "ceil_mode=False, filter_size=3, padding_mode='reflect')",
        ),
        (
            {"channels": None, "kernel_size": (3, 2), "dilation": 2, "padding_mode": "zeros"},
            "MaxBlurPool2d(kernel_size=(3, 2), stride=2, padding=(0, 0), dilation=(2, 2), "
            "ceil_mode=False, filter_size=3, padding_mode='zeros')",
        ),
    )
