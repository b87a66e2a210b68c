"""BlurPool and the anti-aliased strided convolution, checked against independent computations."""

from __future__ import annotations

import math
import warnings

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
    separable_kernel,
)
from checkerscope.nn import AntiAliasedConv1d, AntiAliasedConv2d, BlurPool1d, BlurPool2d

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
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


@pytest.mark.parametrize("mode", PADDING_MODES)
@pytest.mark.parametrize("n", [2, 3, 5])
def test_module_equals_function(mode: str, n: int) -> None:
    x = torch.randn(2, 4, 9, 8)
    torch.testing.assert_close(BlurPool2d(4, 2, n, mode)(x), blur_pool(x, 2, n, mode))
    x1 = torch.randn(2, 4, 17)
    torch.testing.assert_close(BlurPool1d(4, 3, n, mode)(x1), blur_pool(x1, 3, n, mode))


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


def test_blurpool_state_dict_is_empty() -> None:
    assert BlurPool2d(8).state_dict() == {}
    assert BlurPool1d(8).state_dict() == {}


# ---------------------------------------------------------------- properties


@settings(max_examples=30, deadline=None)
@given(
    value=st.floats(-5, 5),
    n=st.integers(1, 6),
    stride=st.integers(1, 4),
    mode=st.sampled_from(PADDING_MODES),
)
def test_constant_in_constant_out(value: float, n: int, stride: int, mode: str) -> None:
    y = BlurPool2d(2, stride, n, mode)(torch.full((1, 2, 12, 12), value))
    # Zero padding reaches (n-1)//2 input samples at the start and the rest at the end.
    if mode == "zeros":
        first = math.ceil(((n - 1) // 2) / stride)
        last = math.ceil((12 - (n - 1 - (n - 1) // 2)) / stride)
        y = y[..., first:last, first:last]
    torch.testing.assert_close(y, torch.full_like(y, value), atol=1e-5, rtol=1e-5)


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


# ---------------------------------------------------------------- shapes, dtypes, devices


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("n", [1, 3, 4])
@pytest.mark.parametrize("size", [(8, 8), (7, 10)])
def test_cardinality(device: str, stride: int, n: int, size: tuple[int, int]) -> None:
    expected = tuple(math.ceil(s / stride) for s in size)
    x = torch.randn(2, 4, *size, device=device)
    assert BlurPool2d(4, stride, n, device=device)(x).shape == (2, 4, *expected)
    layer = AntiAliasedConv2d(4, 6, 3, stride, filter_size=n, device=device)
    assert layer(x).shape == (2, 6, *expected)
    x1 = torch.randn(2, 4, size[1], device=device)
    assert BlurPool1d(4, stride, n, device=device)(x1).shape == (2, 4, expected[1])
    assert AntiAliasedConv1d(4, 6, 3, stride, device=device)(x1).shape == (2, 6, expected[1])


@pytest.mark.parametrize("padding", [0, "valid", (2, 1)])
def test_antialiased_conv_passes_padding_to_the_conv(padding: int | str | tuple) -> None:
    layer = AntiAliasedConv2d(2, 3, 3, stride=2, padding=padding)
    pad = (0, 0) if padding in (0, "valid") else padding
    x = torch.randn(1, 2, 10, 10)
    conv = F.conv2d(x, layer.conv.weight, layer.conv.bias, padding=pad)
    torch.testing.assert_close(layer(x), blur_pool(conv))


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_dtypes_match_float32(dtype: torch.dtype) -> None:
    x = torch.randn(2, 4, 9, 9)
    for layer in (BlurPool2d(4), AntiAliasedConv2d(4, 3)):
        expected = layer(x)
        got = layer.to(dtype)(x.to(dtype))
        assert got.dtype == dtype
        tol = 1e-5 if dtype == torch.float64 else 5e-2
        torch.testing.assert_close(got.float(), expected, atol=tol, rtol=tol)


def test_blurpool_follows_the_input_dtype() -> None:
    # No parameters, so no dtype of its own: a float32 module filters float64 input.
    x = torch.randn(1, 2, 8, 8, dtype=torch.float64)
    assert BlurPool2d(2)(x).dtype == torch.float64


def test_channels_last_and_non_contiguous() -> None:
    x = torch.randn(2, 4, 9, 10)
    for layer in (BlurPool2d(4), AntiAliasedConv2d(4, 3)):
        expected = layer(x)
        torch.testing.assert_close(layer(x.to(memory_format=torch.channels_last)), expected)
        transposed = x.transpose(2, 3).contiguous().transpose(2, 3)
        assert not transposed.is_contiguous()
        torch.testing.assert_close(layer(transposed), expected)


@pytest.mark.parametrize("mode", PADDING_MODES)
def test_gradcheck(mode: str) -> None:
    x = torch.randn(1, 2, 6, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: blur_pool(x, 2, 3, mode), (x,))
    layer = AntiAliasedConv2d(2, 2, 3, filter_size=4, blur_padding_mode=mode).double()
    assert torch.autograd.gradcheck(layer, (x,))


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"channels": 0}, "channels must be a positive integer, got 0"),
        ({"stride": 0}, "stride must be a positive integer, got 0"),
        ({"stride": 2.0}, r"stride must be a positive integer, got 2\.0"),
        ({"filter_size": -3}, "filter_size must be a positive integer, got -3"),
        ({"padding_mode": "circular"}, "padding_mode must be one of .* got 'circular'"),
    ],
)
def test_blurpool_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BlurPool2d(**{"channels": 4, **kwargs})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"in_channels": 0}, "in_channels must be a positive integer, got 0"),
        ({"kernel_size": 0}, "kernel_size must be a positive integer, got 0"),
        ({"stride": -1}, "stride must be a positive integer, got -1"),
        ({"padding": "full"}, "padding must be 'same', 'valid' or non-negative integers"),
        ({"padding": -1}, "padding must be a non-negative integer, got -1"),
        ({"groups": 3}, "groups must divide in_channels=4 and out_channels=6, got groups=3"),
        ({"bias": "no"}, "bias must be True or False, got 'no'"),
        ({"padding_mode": "mirror"}, "padding_mode must be one of .* got 'mirror'"),
        ({"filter_size": 0}, "filter_size must be a positive integer, got 0"),
        ({"blur_padding_mode": "wrap"}, "blur_padding_mode must be one of .* got 'wrap'"),
    ],
)
def test_antialiased_conv_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AntiAliasedConv2d(**{"in_channels": 4, "out_channels": 6, **kwargs})


def test_bad_input() -> None:
    with pytest.raises(ValueError, match=r"shape \(N, C, H, W\) with 4 dimensions"):
        BlurPool2d(4)(torch.randn(4, 8, 8))
    with pytest.raises(ValueError, match=r"shape \(N, C, W\) with 3 dimensions"):
        BlurPool1d(4)(torch.randn(1, 4, 8, 8))
    with pytest.raises(ValueError, match=r"has 3 channels .* expects in_channels=4"):
        BlurPool2d(4)(torch.randn(1, 3, 8, 8))
    with pytest.raises(ValueError, match=r"has 3 channels .* expects in_channels=4"):
        AntiAliasedConv2d(4, 6)(torch.randn(1, 3, 8, 8))
    with pytest.raises(ValueError, match=r"too small for padding_mode='reflect'.*size 1"):
        BlurPool2d(4)(torch.randn(1, 4, 1, 8))
    assert BlurPool2d(4, padding_mode="replicate")(torch.randn(1, 4, 1, 8)).shape == (1, 4, 1, 4)
    conv = AntiAliasedConv2d(4, 6, 3, dilation=2, padding_mode="reflect")
    with pytest.raises(ValueError, match=r"too small for padding_mode='reflect'.*size 2"):
        conv(torch.randn(1, 4, 2, 8))


# ---------------------------------------------------------------- compile, trace, ONNX


@pytest.mark.slow
def test_compile_matches_eager() -> None:
    layer = AntiAliasedConv2d(3, 4)
    x = torch.randn(2, 3, 10, 10)
    torch.testing.assert_close(torch.compile(layer)(x), layer(x), atol=1e-5, rtol=1e-5)


def test_trace_matches_eager() -> None:
    x = torch.randn(2, 3, 10, 10)
    for layer in (BlurPool2d(3), AntiAliasedConv2d(3, 4).eval()):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(layer, x)
        torch.testing.assert_close(traced(x), layer(x))


@pytest.mark.slow
@pytest.mark.parametrize("dims", [1, 2])
def test_onnx_export_runs_the_same(dims: int) -> None:
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    from onnx.reference import ReferenceEvaluator

    layer = (AntiAliasedConv1d if dims == 1 else AntiAliasedConv2d)(3, 4).eval()
    x = torch.randn(1, 3, *(9, 8)[:dims])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = torch.onnx.export(layer, (x,), dynamo=True, verbose=False).model_proto
    onnx.checker.check_model(model)
    (out,) = ReferenceEvaluator(model).run(None, {model.graph.input[0].name: x.numpy()})
    torch.testing.assert_close(torch.from_numpy(out), layer(x).detach(), atol=1e-5, rtol=1e-5)
