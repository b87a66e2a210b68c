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
from torch.nn.utils import parametrizations

from checkerscope.functional.resize_conv import resize_conv_reference
from checkerscope.functional.subpixel import (
    icnr_,
    icnr_weight,
    nearest_resize_conv_weight,
    pixel_shuffle,
    subpixel_conv,
    subpixel_conv2d,
    subpixel_conv_reference,
)
from checkerscope.nn import (
    ResizeConv1d,
    ResizeConv2d,
    ResizeConv3d,
    SubPixelConv1d,
    SubPixelConv2d,
    SubPixelConv3d,
)

from .layer_tester import Configs, Grid, LayerTester, crop

SUBPIXEL = {1: SubPixelConv1d, 2: SubPixelConv2d, 3: SubPixelConv3d}
RESIZE = {1: ResizeConv1d, 2: ResizeConv2d, 3: ResizeConv3d}
CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


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


# ---------------------------------------------------------------- 1-D and 3-D, and the reference


def phases_equal(weight: torch.Tensor, phases: int) -> bool:
    """Whether every group of ``phases`` output channels holds one sub-kernel (ICNR)."""
    grouped = weight.reshape(-1, phases, *weight.shape[1:])
    return bool(torch.equal(grouped, grouped[:, :1].expand_as(grouped)))


@settings(max_examples=60, deadline=None)
@given(
    dims=st.integers(1, 3),
    s=st.integers(1, 3),
    data=st.data(),
    padding_mode=st.sampled_from(["zeros", "reflect", "replicate", "circular"]),
    blur=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_subpixel_conv_equals_its_reference(
    dims: int, s: int, data: st.DataObject, padding_mode: str, blur: bool, seed: int
) -> None:
    """The reshape-and-permute shuffle against one strided write per phase: values and
    the gradients of input, weight and bias, 1-D to 3-D."""
    kernel = tuple(data.draw(st.lists(st.integers(1, 4), min_size=dims, max_size=dims)))
    sizes = tuple(data.draw(st.lists(st.integers(3, 6), min_size=dims, max_size=dims)))
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 3, *sizes, generator=gen, dtype=torch.float64)
    w = torch.randn(2 * s**dims, 3, *kernel, generator=gen, dtype=torch.float64)
    b = torch.randn(2 * s**dims, generator=gen, dtype=torch.float64)
    grad_out = torch.randn(2, 2, *(s * n for n in sizes), generator=gen, dtype=torch.float64)
    results = []
    for fn in (subpixel_conv, subpixel_conv_reference):
        leaves = [t.clone().requires_grad_() for t in (x, w, b)]
        y = fn(*leaves, s, padding_mode, blur)
        results.append((y.detach(), *torch.autograd.grad(y, leaves, grad_out)))
    for got, want in zip(*results, strict=True):
        torch.testing.assert_close(got, want)


@pytest.mark.parametrize("s", [1, 2, 3])
def test_pixel_shuffle_is_torchs_in_2d(s: int) -> None:
    x = torch.randn(2, 3 * s * s, 4, 5)
    assert torch.equal(pixel_shuffle(x, s), F.pixel_shuffle(x, s))


@pytest.mark.parametrize("dims", [1, 3])
@pytest.mark.parametrize("s", [2, 3])
@pytest.mark.parametrize("k", [1, 2, 3])
def test_icnr_nd_equals_nearest_upsample_of_conv_and_the_resize_conv(
    dims: int, s: int, k: int
) -> None:
    """ICNR in 1-D and 3-D: at initialization the layer is ``nearest(conv(x, w0))``, which
    is also the nearest resize-convolution with ``w0`` dilated by s."""
    torch.manual_seed(k + s)
    layer = SUBPIXEL[dims](3, 2, kernel_size=k, scale_factor=s, padding_mode="zeros")
    phases = s**dims
    w0, b0 = layer.conv.weight[::phases].detach(), layer.conv.bias[::phases].detach()
    x = torch.randn(2, 3, *(4, 3, 5)[:dims])
    with warnings.catch_warnings():  # even k: torch warns that "same" pads a copy
        warnings.simplefilter("ignore", UserWarning)
        expected = F.interpolate(CONV[dims](x, w0, b0, padding="same"), scale_factor=s)
        got = layer(x)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    hr = nearest_resize_conv_weight(w0, s)
    resize = RESIZE[dims](3, 2, hr.shape[2:], s, padding_mode="zeros", impl="reference")
    with torch.no_grad():
        resize.weight.copy_(hr)
        resize.bias.copy_(b0)
    torch.testing.assert_close(got, resize(x), atol=1e-5, rtol=1e-5)


def test_init_callable_is_the_base_of_icnr() -> None:
    torch.manual_seed(0)
    layer = SubPixelConv2d(4, 3, init=nn.init.kaiming_normal_)
    assert phases_equal(layer.conv.weight, 4)
    assert layer.conv.weight.min() < -1 / math.sqrt(4 * 9)  # beyond kaiming_uniform(sqrt 5)
    ones = SubPixelConv3d(2, 2, init=nn.init.ones_)
    assert torch.equal(ones.conv.weight, torch.ones_like(ones.conv.weight))
    assert "init=ones_" in repr(ones)


@pytest.mark.parametrize("norm", ["weight_norm", "spectral_norm"])
@pytest.mark.parametrize("dims", [1, 2, 3])
def test_reset_parameters_reapplies_icnr_under_parametrizations(norm: str, dims: int) -> None:
    """The fastai bug: under weight_norm, writing ICNR into ``conv.weight`` changes nothing
    (it is recomputed from the parametrization's originals); it must reach them."""
    torch.manual_seed(dims)
    layer = SUBPIXEL[dims](3, 2, kernel_size=3, scale_factor=2)
    getattr(parametrizations, norm)(layer.conv)
    with torch.no_grad():  # training moves the originals away from ICNR
        for p in layer.conv.parametrizations.weight.parameters():
            p.add_(torch.randn_like(p))
    before = layer.conv.weight.detach().clone()
    assert not phases_equal(before, 2**dims)
    layer.reset_parameters()
    after = layer.conv.weight.detach()
    assert not torch.equal(after, before)
    grouped = after.reshape(-1, 2**dims, *after.shape[1:])
    torch.testing.assert_close(grouped, grouped[:, :1].expand_as(grouped))


def test_reset_parameters_default_init_under_weight_norm_changes_the_weight() -> None:
    layer = SubPixelConv2d(3, 2, init="default")
    parametrizations.weight_norm(layer.conv)
    before = layer.conv.weight.detach().clone()
    layer.reset_parameters()
    assert not torch.equal(layer.conv.weight.detach(), before)


# ---------------------------------------------------------------- shared layer checks


def bad(keywords: dict[str, Any], message: str) -> tuple[dict[str, Any], str]:
    return {"in_channels": 4, "out_channels": 3, **keywords}, message


# Even kernels: torch warns that padding="same" pads a copy of the input.
@pytest.mark.filterwarnings("ignore:Using padding='same'")
class SubPixelTester(LayerTester):
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
        "icnr-kaiming-normal": {"init": nn.init.kaiming_normal_},
        "no-bias": {"bias": False},
    }
    slow_configs = ("default-blur",)
    checkerboard_configs = ("default",)  # test_default_init_maps_a_constant_to_a_checkerboard
    scales = (1, 2, 3, 4)
    bad_arguments = (
        bad({"in_channels": 0}, "in_channels must be a positive integer, got 0"),
        bad({"out_channels": -1}, "out_channels must be a positive integer, got -1"),
        bad({"kernel_size": 0}, "kernel_size must be a positive integer, got 0"),
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
        conv = layer.conv
        return subpixel_conv_reference(
            x, conv.weight, conv.bias, layer.scale_factor, layer.padding_mode, layer.blur
        )

    def plain_conv(self, layer: nn.Module) -> tuple[str, nn.Module]:
        channels = layer.out_channels * layer.scale_factor**self.dims
        bias = layer.conv.bias is not None
        conv = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[self.dims]
        return "conv.", conv(layer.in_channels, channels, layer.kernel_size, bias=bias)

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


class TestSubPixelConv2d(SubPixelTester):
    layer = SubPixelConv2d
    dims = 2
    grid: ClassVar[Grid] = {"kernel_size": (1, 3, 4, (3, 5))}
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
        *SubPixelTester.bad_arguments,
        bad(
            {"kernel_size": (3, 3, 3)},
            "kernel_size must be an int or a sequence of 2 ints, got (3, 3, 3)",
        ),
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


class TestSubPixelConv1d(SubPixelTester):
    layer = SubPixelConv1d
    dims = 1
    grid: ClassVar[Grid] = {"kernel_size": (1, 3, 4, 5)}
    wrong_rank_message = (
        "input must have shape (N, C, W) with 3 dimensions, got a tensor of shape (3, 5)"
    )
    wrong_channels_message = (
        "input has 5 channels (shape (1, 5, 5)), but the layer expects in_channels=4"
    )
    bad_inputs = (
        (
            {"kernel_size": 5, "padding_mode": "reflect"},
            (1, 4, 2),
            "input of shape (1, 4, 2) is too small for padding_mode='reflect': spatial axis 0 "
            "has size 2, but a filter of size 5 pads it by 2, which must be smaller; use "
            "padding_mode='replicate' or 'zeros'",
        ),
    )
    reprs = (
        (
            {"in_channels": 4, "out_channels": 3, "scale_factor": 4, "init": nn.init.zeros_},
            "SubPixelConv1d(\n"
            "  4, 3, kernel_size=(3,), scale_factor=4, init=zeros_, blur=False, "
            "padding_mode='zeros'\n"
            "  (conv): Conv1d(4, 12, kernel_size=(3,), stride=(1,), padding=same)\n"
            ")",
        ),
    )


class TestSubPixelConv3d(SubPixelTester):
    layer = SubPixelConv3d
    dims = 3
    grid: ClassVar[Grid] = {"kernel_size": (1, 3, (3, 1, 2))}
    channels = ((1, 1), (3, 2))
    wrong_rank_message = (
        "input must have shape (N, C, D, H, W) with 5 dimensions, got a tensor of shape "
        "(3, 5, 4, 3)"
    )
    wrong_channels_message = (
        "input has 5 channels (shape (1, 5, 5, 4, 3)), but the layer expects in_channels=4"
    )
    bad_inputs = (
        (
            {"kernel_size": 3, "padding_mode": "reflect"},
            (1, 4, 4, 1, 4),
            "input of shape (1, 4, 4, 1, 4) is too small for padding_mode='reflect': spatial "
            "axis 1 has size 1, but a filter of size 3 pads it by 1, which must be smaller; use "
            "padding_mode='replicate' or 'zeros'",
        ),
    )
    reprs = (
        (
            {"in_channels": 4, "out_channels": 3, "blur": True, "bias": False},
            "SubPixelConv3d(\n"
            "  4, 3, kernel_size=(3, 3, 3), scale_factor=2, init='icnr', blur=True, "
            "padding_mode='zeros', bias=False\n"
            "  (conv): Conv3d(4, 24, kernel_size=(3, 3, 3), stride=(1, 1, 1), padding=same, "
            "bias=False)\n"
            ")",
        ),
    )


def test_subpixel_conv2d_is_subpixel_conv() -> None:
    x, w = torch.randn(1, 4, 5, 6), torch.randn(12, 4, 3, 3)
    assert torch.equal(
        subpixel_conv2d(x, w, None, 2, "reflect"), subpixel_conv(x, w, None, 2, "reflect")
    )
