"""The fused resize-convolution against its definition, ``resize_conv_reference``."""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch.overrides import TorchFunctionMode
from torch.utils.flop_counter import FlopCounterMode

from checkerscope.functional.resize_conv import (
    MODES,
    PADDING_MODES,
    auto_impl,
    eager_shape,
    fused_supported,
    resize_conv,
    resize_conv_fused,
    resize_conv_reference,
    same_padding,
)
from checkerscope.functional.resize_conv_cost import (
    CHANNEL_BLOCK,
    faster_path,
    fused_counts,
    reference_counts,
)
from checkerscope.functional.resize_conv_program import DENSE_TAPS, kernels, program, weight_grad

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def reflect_fits(kernel: tuple[int, ...], sizes: tuple[int, ...], s: int) -> bool:
    return all(max(same_padding(k)) < s * n for k, n in zip(kernel, sizes, strict=True))


class CallLog(TorchFunctionMode):
    """Records the names of the torch functions called while it is active."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def __torch_function__(
        self,
        func: Callable[..., Any],
        types: tuple[type, ...],
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        self.names.append(getattr(func, "__name__", repr(func)))
        return func(*args, **(kwargs or {}))


def takes_fused_path(
    x: torch.Tensor, w: torch.Tensor, s: int, mode: str, padding_mode: str
) -> bool:
    """Whether ``resize_conv_fused`` ran its transposed convolution; the reference runs none."""
    with CallLog() as log:
        resize_conv_fused(x, w, None, s, mode, padding_mode)
    return any(name.startswith("conv_transpose") for name in log.names)


def values_and_grads(
    fn: object,
    x: torch.Tensor,
    w: torch.Tensor,
    b: torch.Tensor,
    s: int,
    mode: str,
    padding_mode: str,
    grad_out: torch.Tensor,
) -> tuple[torch.Tensor, ...]:
    """Output and the gradients of <output, grad_out> for input, weight and bias."""
    leaves = [t.detach().clone().requires_grad_() for t in (x, w, b)]
    y = fn(*leaves, s, mode, padding_mode)  # type: ignore[operator]
    return (y.detach(), *torch.autograd.grad(y, leaves, grad_out))


def assert_agree(
    x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, s: int, mode: str, padding_mode: str
) -> None:
    """Fused == reference in values and all three gradients, the fused path really taken."""
    assert takes_fused_path(x, w, s, mode, padding_mode), "fell back: nothing to compare"
    out_shape = (x.shape[0], w.shape[0], *(s * n for n in x.shape[2:]))
    grad_out = torch.randn(out_shape, dtype=x.dtype, generator=torch.Generator().manual_seed(9))
    args = (x, w, b, s, mode, padding_mode, grad_out)
    fused = values_and_grads(resize_conv_fused, *args)
    ref = values_and_grads(resize_conv_reference, *args)
    for name, got, want in zip(
        ("output", "d input", "d weight", "d bias"), fused, ref, strict=True
    ):
        torch.testing.assert_close(
            got, want, atol=1e-9, rtol=1e-9, msg=lambda m, n=name: f"{n}: {m}"
        )


# ------------------------------------------------------- agreement: every configuration


SIZES_2D = [(1, 2), (2, 3), (5, 4), (6, 5)]  # from 1 pixel up; >= 5 never falls back


def cases_2d(s: int, mode: str, padding_mode: str) -> list[tuple[int, tuple[int, int]]]:
    """(k, input size) for k = 1..7 on SIZES_2D, less those reflect padding cannot take."""
    return [
        (k, size)
        for k, size in itertools.product(range(1, 8), SIZES_2D)
        if padding_mode != "reflect" or reflect_fits((k, k), size, s)
    ]


@pytest.mark.parametrize("padding_mode", PADDING_MODES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("s", [2, 3, 4])
def test_fused_equals_reference_every_kernel_size_2d(s: int, mode: str, padding_mode: str) -> None:
    """All of k = 1..7 for this (s, mode, padding), on inputs from 1 pixel up, borders included.

    Only the cases that take the fused path are compared (assert_agree checks that it ran);
    the small inputs on which it runs the reference are tested below, for what they are.
    """
    gen = torch.Generator().manual_seed(s)
    compared = set()
    for k, (h, w) in cases_2d(s, mode, padding_mode):
        if not fused_supported((k, k), (h, w), s, mode, padding_mode):
            continue
        x = torch.randn(2, 3, h, w, generator=gen, dtype=torch.float64)
        weight = torch.randn(2, 3, k, k, generator=gen, dtype=torch.float64)
        bias = torch.randn(2, generator=gen, dtype=torch.float64)
        assert_agree(x, weight, bias, s, mode, padding_mode)
        compared.add(k)
    assert compared == set(range(1, 8))


@pytest.mark.parametrize("padding_mode", PADDING_MODES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("s", [2, 3, 4])
def test_fused_supported_says_which_path_runs_and_the_fallback_is_the_reference(
    s: int, mode: str, padding_mode: str
) -> None:
    """Where ``fused_supported`` is False, ``resize_conv_fused`` is the reference, bit for bit."""
    gen = torch.Generator().manual_seed(s)
    for k, (h, w) in cases_2d(s, mode, padding_mode):
        x = torch.randn(2, 3, h, w, generator=gen, dtype=torch.float64)
        weight = torch.randn(2, 3, k, k, generator=gen, dtype=torch.float64)
        bias = torch.randn(2, generator=gen, dtype=torch.float64)
        fused = fused_supported((k, k), (h, w), s, mode, padding_mode)
        assert takes_fused_path(x, weight, s, mode, padding_mode) == fused, (k, h, w)
        if fused:
            continue
        out_shape = (2, 2, s * h, s * w)
        grad_out = torch.randn(out_shape, generator=gen, dtype=torch.float64)
        args = (x, weight, bias, s, mode, padding_mode, grad_out)
        got = values_and_grads(resize_conv_fused, *args)
        want = values_and_grads(resize_conv_reference, *args)
        assert all(torch.equal(g, r) for g, r in zip(got, want, strict=True)), (k, h, w)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("padding_mode", PADDING_MODES)
def test_fallback_is_for_small_inputs_that_need_border_strips(mode: str, padding_mode: str) -> None:
    """Replicate and zero padding never fall back (their border blocks stay exact on a
    one-sample axis); reflect padding falls back only on inputs under 4 samples an axis
    for k <= 7, where its two ends reflect into each other."""
    kernels_scales = list(itertools.product(range(1, 8), range(1, 5)))
    never = padding_mode != "reflect"
    for n in range(1, 9):
        supported = [fused_supported((k,), (n,), s, mode, padding_mode) for k, s in kernels_scales]
        if never or n >= 4:
            assert all(supported), n
    small = [fused_supported((k,), (1,), s, mode, padding_mode) for k, s in kernels_scales]
    assert all(small) == never


@settings(max_examples=60, deadline=None)
@given(
    dims=st.integers(1, 3),
    data=st.data(),
    s=st.integers(1, 4),
    mode=st.sampled_from(MODES),
    padding_mode=st.sampled_from(PADDING_MODES),
    seed=st.integers(0, 2**16),
)
def test_fused_equals_reference_random_configurations(
    dims: int, data: st.DataObject, s: int, mode: str, padding_mode: str, seed: int
) -> None:
    """Per-axis kernel sizes and input sizes, 1-D to 3-D: values and all three gradients."""
    most = {1: 12, 2: 8, 3: 4}[dims]
    kernel = tuple(data.draw(st.lists(st.integers(1, 7), min_size=dims, max_size=dims)))
    sizes = tuple(data.draw(st.lists(st.integers(1, most), min_size=dims, max_size=dims)))
    assume(padding_mode != "reflect" or reflect_fits(kernel, sizes, s))
    assume(fused_supported(kernel, sizes, s, mode, padding_mode))  # else it is the reference
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 3, *sizes, generator=gen, dtype=torch.float64)
    weight = torch.randn(4, 3, *kernel, generator=gen, dtype=torch.float64)
    bias = torch.randn(4, generator=gen, dtype=torch.float64)
    assert_agree(x, weight, bias, s, mode, padding_mode)


def test_nearest_3x3_is_a_4_tap_transposed_convolution() -> None:
    """The lift of the lead's derivation, written out by hand: v = [w2, w1+w2, w0+w1, w0].

    With zero padding no border handling is needed, so the fused path must be exactly one
    ``conv_transpose2d(kernel_size=4, stride=2, padding=1)``: the cost of ConvTranspose2d.
    """
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 6, 5, generator=gen, dtype=torch.float64)
    w = torch.randn(4, 3, 3, 3, generator=gen, dtype=torch.float64)
    b = torch.randn(4, generator=gen, dtype=torch.float64)
    lift = torch.tensor(
        [[0, 0, 1], [0, 1, 1], [1, 1, 0], [1, 0, 0]], dtype=torch.float64
    )  # taps x kernel
    taps = torch.einsum("oiab,ta,ub->iotu", w, lift, lift)
    expected = F.conv_transpose2d(x, taps, b, stride=2, padding=1)
    torch.testing.assert_close(resize_conv_fused(x, w, b, 2, "nearest", "zeros"), expected)
    torch.testing.assert_close(resize_conv_reference(x, w, b, 2, "nearest", "zeros"), expected)


@settings(max_examples=60, deadline=None)
@given(
    dims=st.integers(1, 3),
    data=st.data(),
    s=st.integers(2, 4),
    mode=st.sampled_from(MODES),
    padding_mode=st.sampled_from(PADDING_MODES),
    seed=st.integers(0, 2**16),
)
def test_kernels_dense_and_per_axis_agree(
    dims: int, data: st.DataObject, s: int, mode: str, padding_mode: str, seed: int
) -> None:
    """The fused path's kernels from ``w`` by dense matrices (one product for all, or one
    each) and by per-axis products, and the weight gradient mapped back by each: equal."""
    kernel = tuple(data.draw(st.lists(st.integers(1, 5), min_size=dims, max_size=dims)))
    prog = program(kernel, s, mode, padding_mode)
    assert prog.dense == (math.prod(kernel) <= DENSE_TAPS)
    variants = {
        "dense, one product": prog._replace(dense=True, plain=prog.plain),
        "dense, one each": prog._replace(dense=True, plain=False),
        "per axis": prog._replace(dense=False),
    }
    if not prog.plain:
        del variants["dense, one product"]  # its kernels are not column blocks of one product
    gen = torch.Generator().manual_seed(seed)
    weight = torch.randn(3, 2, *kernel, generator=gen, dtype=torch.float64)
    results = {name: kernels(p, weight) for name, p in variants.items()}
    grads = [torch.randn(k.shape, generator=gen, dtype=torch.float64) for k in results["per axis"]]
    expected_grad = weight_grad(variants["per axis"], weight, grads)
    for name, p in variants.items():
        for got, expected in zip(results[name], results["per axis"], strict=True):
            torch.testing.assert_close(got, expected, msg=name)
        torch.testing.assert_close(weight_grad(p, weight, grads), expected_grad, msg=name)


# ------------------------------------------------------------------------ gradcheck


@pytest.mark.parametrize(
    ("shape", "kernel", "s", "mode", "padding_mode"),
    [
        ((1, 2, 5), (4,), 3, "bilinear", "reflect"),
        ((1, 2, 4, 3), (3, 3), 2, "nearest", "reflect"),
        ((1, 2, 5, 4), (5, 2), 2, "bilinear", "zeros"),
        ((1, 2, 4, 4), (4, 4), 2, "nearest", "reflect"),
        ((1, 1, 2, 2, 3), (3, 2, 3), 2, "bilinear", "replicate"),
    ],
)
def test_gradcheck_fused(
    shape: tuple[int, ...], kernel: tuple[int, ...], s: int, mode: str, padding_mode: str
) -> None:
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(*shape, generator=gen, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, shape[1], *kernel, generator=gen, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, generator=gen, dtype=torch.float64, requires_grad=True)
    assert takes_fused_path(x.detach(), w.detach(), s, mode, padding_mode)
    assert torch.autograd.gradcheck(
        lambda x, w, b: resize_conv_fused(x, w, b, s, mode, padding_mode), (x, w, b)
    )


# --------------------------------------------------------------- dtypes and layouts


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("mode", MODES)
def test_bfloat16_close_to_float32_reference(device: str, mode: str) -> None:
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(2, 8, 9, 7, generator=gen)
    w = torch.randn(4, 8, 3, 3, generator=gen) / 5
    b = torch.randn(4, generator=gen)
    want = resize_conv_reference(x, w, b, 2, mode, "reflect")
    args = (x, w, b)
    got = resize_conv_fused(*(t.to(device, torch.bfloat16) for t in args), 2, mode, "reflect")
    assert got.dtype == torch.bfloat16
    torch.testing.assert_close(got.float().cpu(), want, atol=0.1, rtol=0.05)


@pytest.mark.parametrize("device", DEVICES)
def test_channels_last_and_non_contiguous_inputs(device: str) -> None:
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 6, 7, 10, generator=gen, dtype=torch.float64)
    w = torch.randn(3, 6, 3, 3, generator=gen, dtype=torch.float64)
    b = torch.randn(3, generator=gen, dtype=torch.float64)
    want = resize_conv_reference(x, w, b, 2, "bilinear", "reflect")
    x, w, b = (t.to(device) for t in (x, w, b))
    for variant in (x.to(memory_format=torch.channels_last), x.transpose(2, 3).contiguous().mT):
        got = resize_conv_fused(variant, w, b, 2, "bilinear", "reflect")
        torch.testing.assert_close(got.cpu(), want)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("padding_mode", PADDING_MODES)
def test_cuda_equals_cpu(padding_mode: str) -> None:
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(2, 3, 6, 5, generator=gen, dtype=torch.float64)
    w = torch.randn(4, 3, 5, 5, generator=gen, dtype=torch.float64)
    b = torch.randn(4, generator=gen, dtype=torch.float64)
    want = resize_conv_reference(x, w, b, 3, "bilinear", padding_mode)
    got = resize_conv_fused(x.cuda(), w.cuda(), b.cuda(), 3, "bilinear", padding_mode)
    torch.testing.assert_close(got.cpu(), want)


# --------------------------------------------------------------- dispatch and errors


def test_auto_is_fused_and_reference_is_the_definition() -> None:
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(2, 32, 48, 48, generator=gen)
    w = torch.randn(16, 32, 3, 3, generator=gen)
    fused = resize_conv_fused(x, w, None, 2, "bilinear", "reflect")
    reference = resize_conv_reference(x, w, None, 2, "bilinear", "reflect")
    assert not torch.equal(fused, reference)  # same operator, different float rounding
    assert auto_impl((3, 3), 2, "bilinear", "reflect", tuple(x.shape), 16) == "fused"
    assert torch.equal(resize_conv(x, w, None, 2, "bilinear", "reflect", impl="auto"), fused)
    assert torch.equal(resize_conv(x, w, None, 2, "bilinear", "reflect", "fused"), fused)
    assert torch.equal(resize_conv(x, w, None, 2, "bilinear", "reflect", "reference"), reference)


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("mode", MODES)
def test_auto_runs_the_path_auto_impl_names(dims: int, mode: str) -> None:
    """Bit for bit the fused or the reference path, as ``auto_impl`` says for the input's
    shape, for every kernel and scale of the benchmark grid: scale 1 is always the
    reference; above it, in every dimension, the path the cost model predicts faster, which
    is the reference on a 3-sample input and the fused path on a large one (a rule that
    ignored the model would take one path at both)."""
    gen = torch.Generator().manual_seed(dims)
    taken = set()
    for size, k, s in itertools.product((3, {1: 2048, 2: 48, 3: 16}[dims]), (1, 3, 5), (1, 2, 4)):
        x = torch.randn(2, 16, *(size,) * dims, generator=gen)
        w = torch.randn(16, 16, *(k,) * dims, generator=gen)
        impl = auto_impl((k,) * dims, s, mode, "replicate", tuple(x.shape), 16)
        if s == 1:
            assert impl == "reference"
        else:
            assert impl == faster_path((k,) * dims, s, mode, "replicate", tuple(x.shape), 16)
            taken.add((size, impl))
        want = resize_conv(x, w, None, s, mode, "replicate", impl)
        assert torch.equal(resize_conv(x, w, None, s, mode, "replicate", "auto"), want)
    assert (3, "reference") in taken
    assert (size, "fused") in taken


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_auto_takes_the_reference_on_cuda(dims: int) -> None:
    """On CUDA every configuration and size takes the reference (measured faster on an H200
    at the benchmark's shapes); the CPU's choice for the same configurations includes the
    fused path (on the larger input: 1024 samples in 1-D), so the device is what decides."""
    on_cpu = set()
    sizes = (3, {1: 1024, 2: 32, 3: 32}[dims])
    for size, k, s, mode in itertools.product(sizes, (3, 5), (2, 4), MODES):
        shape = (8, 16, *(size,) * dims)
        assert auto_impl((k,) * dims, s, mode, "reflect", shape, 16, "cuda") == "reference"
        on_cpu.add(auto_impl((k,) * dims, s, mode, "reflect", shape, 16, "cpu"))
    assert "fused" in on_cpu


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_auto_on_cuda_runs_the_reference() -> None:
    x, w = torch.randn(2, 8, 16, 16, device="cuda"), torch.randn(4, 8, 3, 3, device="cuda")
    want = resize_conv(x, w, None, 2, "nearest", "reflect", "reference")
    assert torch.equal(resize_conv(x, w, None, 2, "nearest", "reflect", "auto"), want)


def test_auto_reads_sizes_in_eager_mode_only() -> None:
    """Small inputs take the reference, large ones the fused path, in every dimension;
    without a shape (tracing, compiling, exporting: :func:`eager_shape` is None) the fused
    path at any size."""
    for small, large, c_out in [
        ((8, 64, 16), (8, 64, 1024), 32),
        ((8, 64, 4, 4), (8, 64, 32, 32), 32),
        ((1, 32, 4, 4, 4), (1, 32, 32, 32, 32), 16),
    ]:
        kernel = (3,) * (len(small) - 2)
        assert auto_impl(kernel, 2, "bilinear", "reflect", small, c_out) == "reference"
        assert auto_impl(kernel, 2, "bilinear", "reflect", large, c_out) == "fused"
        assert auto_impl(kernel, 2, "bilinear") == "fused"
    x = torch.randn(small)
    assert eager_shape(x) == small
    seen = []

    def record(t: torch.Tensor) -> torch.Tensor:
        seen.append(eager_shape(t))
        return t * 2

    torch.jit.trace(record, (x,), check_trace=False)
    assert seen == [None]


def test_auto_counts_multiply_adds_on_blocked_channels(monkeypatch: pytest.MonkeyPatch) -> None:
    """A DCGAN's last layer (64->3 channels, 32->64 px, batch 1): the fused path was 1.6x
    faster than the reference on an AVX-512 CPU, where 3 output channels cost as many
    multiply-adds as 16; counted on raw channels, the model picks the reference."""
    shape, kernel = (1, 64, 32, 32), (3, 3)
    fused = fused_counts(kernel, 2, "nearest", "reflect", shape, 3, 16)
    assert fused.macs == fused_counts(kernel, 2, "nearest", "reflect", shape, 3).macs * 16 / 3
    assert fused[1:] == fused_counts(kernel, 2, "nearest", "reflect", shape, 3)[1:]
    for block, want in [(16, "fused"), (1, "reference")]:
        monkeypatch.setitem(CHANNEL_BLOCK, 2, block)
        faster_path.cache_clear()
        assert auto_impl(kernel, 2, "nearest", "reflect", shape, 3) == want
    faster_path.cache_clear()


def test_auto_works_out_its_choice_once_per_shape() -> None:
    """``faster_path`` runs on every eager forward with ``impl="auto"``: cached per layer
    configuration and input shape."""
    x, w = torch.randn(2, 8, 12, 12), torch.randn(4, 8, 3, 3)
    faster_path.cache_clear()
    for _ in range(3):
        resize_conv(x, w, None, 2, "nearest", "reflect", "auto")
    assert (faster_path.cache_info().misses, faster_path.cache_info().hits) == (1, 2)


def test_reference_counts_are_the_convolutions_flops() -> None:
    """The cost model's multiply-adds of the reference equal torch's FLOP count / 2 for one
    forward and backward (input and weight gradients)."""
    x = torch.randn(2, 3, 6, 5, requires_grad=True)
    w = torch.randn(4, 3, 3, 3, requires_grad=True)
    with FlopCounterMode(display=False) as counter:
        resize_conv_reference(x, w, None, 2, "nearest", "zeros").sum().backward()
    counts = reference_counts((3, 3), 2, "nearest", tuple(x.shape), 4)
    assert counts.macs == counter.get_total_flops() // 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scale_factor": 0}, "scale_factor must be an integer >= 1, got 0"),
        ({"scale_factor": 1.5}, "scale_factor must be an integer >= 1, got 1.5"),
        ({"mode": "bicubic"}, "mode must be one of 'nearest', 'bilinear', got 'bicubic'"),
        ({"padding_mode": "circular"}, "padding_mode must be one of"),
        ({"impl": "triton"}, "impl must be one of 'auto', 'fused', 'reference', got 'triton'"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs: dict, message: str) -> None:
    args = {"scale_factor": 2, "mode": "nearest", "padding_mode": "reflect", "impl": "auto"}
    args.update(kwargs)
    with pytest.raises(ValueError, match=re.escape(message)):
        resize_conv(torch.randn(1, 2, 4, 4), torch.randn(3, 2, 3, 3), None, **args)


@pytest.mark.parametrize("impl", ["fused", "reference"])
def test_reflect_wider_than_the_upsampled_input_raises(impl: str) -> None:
    # k=7 pads 3 per side; a 1-pixel input upsampled by 2 has only 2 samples to reflect.
    x, w = torch.randn(1, 2, 1, 4), torch.randn(3, 2, 7, 7)
    with pytest.raises(ValueError, match=r"padding_mode='reflect'.*\(1, 2, 1, 4\).*upsamples to 2"):
        resize_conv(x, w, None, 2, "nearest", "reflect", impl)
    assert resize_conv(x, w, None, 2, "nearest", "replicate", impl).shape == (1, 3, 2, 8)


def test_wrong_rank_or_channels_raise() -> None:
    w = torch.randn(3, 2, 3, 3)
    with pytest.raises(ValueError, match=r"input must have shape \(N, C, H, W\).*\(2, 4, 4\)"):
        resize_conv(torch.randn(2, 4, 4), w, None, 2)
    with pytest.raises(ValueError, match=r"input has 5 channels.*in_channels=2"):
        resize_conv(torch.randn(1, 5, 4, 4), w, None, 2)
    with pytest.raises(ValueError, match="weight must have shape"):
        resize_conv(torch.randn(1, 2, 4, 4), torch.randn(3, 2), None, 2)
