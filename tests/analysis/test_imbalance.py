from __future__ import annotations

import copy
import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from checkerscope.analysis import phase_imbalance
from checkerscope.nn import (
    ResizeConv1d,
    ResizeConv2d,
    ResizeConv3d,
    SubPixelConv1d,
    SubPixelConv2d,
    SubPixelConv3d,
)

UPSAMPLERS = {
    "deconv1d k3 s2": (lambda: nn.ConvTranspose1d(2, 3, 3, 2), 16),
    "deconv1d k5 s3 p2 dilation": (lambda: nn.ConvTranspose1d(2, 2, 5, 3, 2, dilation=2), 16),
    "deconv2d k4 s2 p1": (lambda: nn.ConvTranspose2d(2, 3, 4, 2, 1), 10),
    "deconv2d groups": (lambda: nn.ConvTranspose2d(4, 6, (3, 5), (2, 3), (1, 2), groups=2), 10),
    "deconv3d": (lambda: nn.ConvTranspose3d(2, 2, 3, 2, 1, output_padding=1), 7),
    "resize-conv1d s3": (lambda: ResizeConv1d(2, 2, 4, scale_factor=3), 12),
    "resize-conv2d bilinear": (lambda: ResizeConv2d(2, 3, 3, mode="bilinear"), 10),
    "sub-pixel icnr": (lambda: SubPixelConv2d(2, 3, 3), 10),
    "sub-pixel default": (lambda: SubPixelConv2d(2, 3, 3, init="default"), 10),
    "sub-pixel default s3 blur": (
        lambda: SubPixelConv2d(2, 2, 3, scale_factor=3, init="default", blur=True),
        10,
    ),
    "sub-pixel 1-D default s3": (
        lambda: SubPixelConv1d(2, 3, 5, scale_factor=3, init="default"),
        16,
    ),
    "sub-pixel 1-D icnr": (lambda: SubPixelConv1d(2, 2, 3), 16),
    "sub-pixel 3-D default": (lambda: SubPixelConv3d(2, 2, 3, init="default"), 7),
    "sub-pixel 3-D default blur": (lambda: SubPixelConv3d(2, 2, 3, init="default", blur=True), 7),
}


def centre(n: int) -> range:
    return range(n // 3, 2 * n // 3)


def read_phases(field: torch.Tensor, stride: tuple[int, ...]) -> torch.Tensor:
    """(C, *S) field -> (C, *stride): the value at each phase, checked equal over the centre."""
    out = torch.full((field.shape[0], *stride), float("nan"), dtype=field.dtype)
    for pos in itertools.product(*(centre(n) for n in field.shape[1:])):
        phase = tuple(p % s for p, s in zip(pos, stride, strict=True))
        value = field[(slice(None), *pos)]
        seen = out[(slice(None), *phase)]
        if torch.isnan(seen).any():
            out[(slice(None), *phase)] = value
        else:
            torch.testing.assert_close(value, seen, rtol=1e-9, atol=1e-12)
    assert not torch.isnan(out).any()
    return out


@pytest.mark.parametrize("name", UPSAMPLERS)
def test_pair_response_matches_a_flat_input_through_the_layer(name):
    """Brute force: a constant 1 on one input channel, read the output interior by phase."""
    make, n = UPSAMPLERS[name]
    torch.manual_seed(0)
    layer = make()
    result = phase_imbalance(layer)
    ref = copy.deepcopy(layer).double().eval()
    # SubPixelConv2d holds its 1/3 box taps as float32 buffers, so .double() keeps that rounding.
    rtol = 1e-6 if getattr(layer, "blur", False) else 1e-9
    dims = len(result.stride)
    channels = result.pair_response.shape[1]
    for c in range(channels):
        x = torch.zeros(1, channels, *(n,) * dims, dtype=torch.float64)
        x[:, c] = 1.0
        with torch.no_grad():
            y = (ref(x) - ref(torch.zeros_like(x)))[0]
        torch.testing.assert_close(
            read_phases(y, result.stride), result.pair_response[:, c], rtol=rtol, atol=1e-12
        )
    torch.testing.assert_close(result.response, result.pair_response.sum(1))


STRIDED_CONVS = {
    "conv1d k3 s2 p1": (lambda: nn.Conv1d(2, 3, 3, 2, 1), 24),
    "conv1d k4 s3 dilation groups": (lambda: nn.Conv1d(4, 2, 4, 3, 2, dilation=2, groups=2), 30),
    "conv2d k3 s2 reflect": (lambda: nn.Conv2d(2, 2, 3, 2, 1, padding_mode="reflect"), 16),
    "conv2d k4 s2": (lambda: nn.Conv2d(3, 2, (4, 3), 2, 1), 16),
}


@pytest.mark.parametrize("name", STRIDED_CONVS)
def test_strided_conv_response_matches_its_input_gradient(name):
    """Brute force: gradient 1 on one output channel, read the input gradient by phase."""
    make, n = STRIDED_CONVS[name]
    torch.manual_seed(0)
    layer = make().double()
    result = phase_imbalance(layer)
    dims = len(result.stride)
    for b in range(layer.out_channels):
        x = torch.zeros(1, layer.in_channels, *(n,) * dims, dtype=torch.float64, requires_grad=True)
        y = layer(x)
        y[:, b].sum().backward()
        torch.testing.assert_close(
            read_phases(x.grad[0], result.stride), result.pair_response[:, b], rtol=1e-9, atol=1e-12
        )


def test_the_articles_k3_s2_kernel_writes_twice_to_one_phase():
    layer = nn.ConvTranspose1d(1, 1, 3, 2, bias=False)
    with torch.no_grad():
        layer.weight.fill_(1.0)
    result = phase_imbalance(layer)
    assert result.response.tolist() == [[2.0, 1.0]]
    # R = (2, 1): deviation (0.5, -0.5), so sqrt(0.5) / sqrt(5).
    assert result.imbalance == pytest.approx((0.5 / 5) ** 0.5)


def test_flat_k4_s2_kernel_is_balanced_and_random_ones_are_not():
    layer = nn.ConvTranspose2d(4, 4, 4, 2, 1)
    with torch.no_grad():
        layer.weight.fill_(0.1)
    assert phase_imbalance(layer).imbalance == 0.0
    torch.manual_seed(0)
    assert phase_imbalance(nn.ConvTranspose2d(4, 4, 4, 2, 1)).imbalance > 0.3


@pytest.mark.parametrize("seed", range(5))
def test_random_k3_s2_deconvolution_is_clearly_imbalanced(seed):
    torch.manual_seed(seed)
    for layer in (nn.ConvTranspose2d(16, 16, 3, 2, 1, 1), nn.ConvTranspose1d(8, 8, 3, 2)):
        assert phase_imbalance(layer).imbalance > 0.3


resize_convs = st.sampled_from(
    [
        lambda k, s: ResizeConv1d(3, 2, k, scale_factor=s),
        lambda k, s: ResizeConv2d(2, 3, k, scale_factor=s, mode="bilinear"),
        lambda k, s: ResizeConv3d(2, 2, k, scale_factor=s),
    ]
)


@settings(max_examples=30, deadline=None)
@given(resize_convs, st.integers(1, 5), st.integers(1, 4), st.integers(0, 2**31 - 1))
def test_resize_conv_is_balanced_for_any_weights(make, k, s, seed):
    layer = make(k, s)
    with torch.no_grad():
        layer.weight.copy_(
            torch.randn(layer.weight.shape, generator=torch.Generator().manual_seed(seed))
        )
    assert phase_imbalance(layer).imbalance == 0.0


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("s", [2, 3])
def test_icnr_sub_pixel_is_balanced_at_init_and_default_is_not(seed, s):
    torch.manual_seed(seed)
    assert phase_imbalance(SubPixelConv2d(8, 8, 3, scale_factor=s)).imbalance == 0.0
    assert phase_imbalance(SubPixelConv2d(8, 8, 3, scale_factor=s, init="default")).imbalance > 0.3


def test_imbalance_ignores_the_weight_scale():
    torch.manual_seed(0)
    layer = nn.ConvTranspose2d(3, 3, 3, 2)
    before = phase_imbalance(layer).imbalance
    with torch.no_grad():
        layer.weight.mul_(0.125)  # exact in float32, so only the formula can differ
    assert phase_imbalance(layer).imbalance == pytest.approx(before, rel=1e-12)


def test_zero_weights_count_as_flat():
    layer = nn.ConvTranspose1d(1, 1, 3, 2)
    with torch.no_grad():
        layer.weight.zero_()
    assert phase_imbalance(layer).imbalance == 0.0


def test_unsupported_layers_are_named():
    with pytest.raises(ValueError, match="got Upsample"):
        phase_imbalance(nn.Upsample(scale_factor=2))
    with pytest.raises(ValueError, match=r"layer must be a torch\.nn\.Module, got Tensor"):
        phase_imbalance(torch.ones(3))
