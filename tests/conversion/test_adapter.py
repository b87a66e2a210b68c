"""checkerscope.conversion.adapter: every replacement has the deconvolution's output shape and
alignment, also for every ``output_size`` the deconvolution accepts. The strongest check: a
deconvolution whose kernel is the lift of a resize-conv kernel is reproduced exactly by the
converted layer, for every padding, output padding and requested output size.
"""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import checkerscope
from checkerscope.conversion import ResizeConvAdapter, convert
from checkerscope.conversion.adapter import matching_window

from .lifting import DECONV, interior_input, lift_1d, lifted_deconv, resize_part


def test_lift_matches_the_article_formula() -> None:
    # k=3, s=2: one input pixel paints [w2, w1 + w2, w0 + w1, w0] (cross-correlation convention)
    w = np.array([1.0, 10.0, 100.0])
    np.testing.assert_array_equal(lift_1d(w, 2), [100.0, 110.0, 11.0, 1.0])


# --- shapes ----------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    dims=st.sampled_from([1, 2]),
    k=st.integers(1, 5),
    s=st.integers(1, 4),
    p=st.integers(0, 3),
    op=st.integers(0, 3),
    d=st.integers(1, 2),
    k_new=st.sampled_from([1, 2, 3, 4, None]),
    size=st.integers(1, 6),
)
def test_output_shape_equals_the_deconvolutions(dims, k, s, p, op, d, k_new, size) -> None:
    if op >= max(s, d) or (size - 1) * s - 2 * p + d * (k - 1) + op + 1 < 1:
        return  # not a valid ConvTranspose for this input
    deconv = DECONV[dims](2, 3, k, s, p, output_padding=op, dilation=d)
    new = convert(deconv, kernel_size=k_new, padding_mode="replicate", include_stride1=True)
    for n in (size, size + 1, size + 3):  # the rule must hold for every input size
        x = torch.randn(1, 2, *(n,) * dims)
        assert new(x).shape == deconv(x).shape


@pytest.mark.parametrize(
    ("k", "s", "p", "op", "expected"),
    [
        (4, 2, 1, 0, "ResizeConv2d"),  # DCGAN: 2L
        (2, 2, 0, 0, "ResizeConv2d"),  # U-Net: 2L
        (3, 2, 1, 1, "ResizeConv2d"),  # 'same' deconvolution: 2L
        (4, 2, 0, 0, "ResizeConvAdapter"),  # 2L + 2
        (3, 2, 1, 0, "ResizeConvAdapter"),  # 2L - 1
    ],
)
def test_bare_resize_conv_only_when_geometry_agrees(k, s, p, op, expected) -> None:
    new = convert(nn.ConvTranspose2d(4, 4, k, s, p, output_padding=op))
    assert type(new).__name__ == expected


def test_adapter_example_and_repr() -> None:
    adapter = ResizeConvAdapter(checkerscope.nn.ResizeConv2d(8, 4), offset=(-1, -1), extra=(2, 2))
    assert adapter(torch.randn(1, 8, 5, 5)).shape == (1, 4, 12, 12)
    assert "offset=(-1, -1), extra=(2, 2)" in repr(adapter)
    with pytest.raises(ValueError, match=re.escape("offset=(0,), extra=(0, 0)")):
        ResizeConvAdapter(checkerscope.nn.ResizeConv2d(8, 4), offset=(0,), extra=(0, 0))


def test_matching_window_of_common_deconvolutions() -> None:
    assert matching_window(nn.ConvTranspose2d(4, 4, 4, 2, 1), (3, 3)) == ((0, 0), (0, 0))
    assert matching_window(nn.ConvTranspose1d(4, 4, 4, 2, 0), (3,)) == ((-1,), (2,))
    assert matching_window(nn.ConvTranspose1d(4, 4, 3, 2, 1), (3,)) == ((0,), (-1,))


# --- alignment against nn.ConvTranspose ------------------------------------------------------


@pytest.mark.parametrize("dims", [1, 2])
@pytest.mark.parametrize("s", [1, 2, 3])
@pytest.mark.parametrize("k_new", [1, 2, 3, 4])
def test_lifted_deconvolution_is_reproduced_exactly(dims, s, k_new) -> None:
    """For every padding / output_padding, the window convert() picks must line up so that a
    deconvolution that IS a resize-conv is recovered: residual ~0, same kernel, same output."""
    gen = torch.Generator().manual_seed(100 * dims + 10 * s + k_new)
    k_old = s + k_new - 1
    for p in range(k_old):
        for op in range(s):
            w = torch.randn(3, 2, *(k_new,) * dims, generator=gen, dtype=torch.float64)
            deconv = lifted_deconv(w, s, p, op)
            new = convert(deconv, init="project", kernel_size=k_new, include_stride1=True)
            assert new.projection_residual < 1e-12, (p, op)
            torch.testing.assert_close(resize_part(new).weight, w, rtol=0, atol=1e-12)
            torch.testing.assert_close(resize_part(new).bias, deconv.bias)
            x = interior_input(2, (2 * k_old + 5,) * dims, margin=k_old + 1)
            torch.testing.assert_close(new(x), deconv(x), rtol=0, atol=1e-12)


# --- output_size, as U-Nets call it ----------------------------------------------------------


def valid_output_sizes(deconv: nn.Module, n: int) -> list[int]:
    """The sizes ``deconv(x, output_size=...)`` accepts along an axis of length n (torch's rule:
    the size without output padding, plus 0 .. stride - 1)."""
    s, p, d, k = deconv.stride[0], deconv.padding[0], deconv.dilation[0], deconv.kernel_size[0]
    low = (n - 1) * s - 2 * p + d * (k - 1) + 1
    return [m for m in range(low, low + s) if m >= 1]


@settings(max_examples=60, deadline=None)
@given(
    dims=st.sampled_from([1, 2]),
    k=st.integers(1, 5),
    s=st.integers(1, 4),
    p=st.integers(0, 3),
    op=st.integers(0, 3),
    d=st.integers(1, 2),
    k_new=st.sampled_from([1, 2, 3, 4, None]),
    size=st.integers(1, 6),
)
def test_every_output_size_the_deconvolution_accepts_is_given(
    dims, k, s, p, op, d, k_new, size
) -> None:
    if op >= max(s, d) or not valid_output_sizes(DECONV[dims](1, 1, k, s, p, dilation=d), size):
        return  # not a valid ConvTranspose for this input
    deconv = DECONV[dims](2, 3, k, s, p, output_padding=op, dilation=d)
    new = convert(deconv, kernel_size=k_new, padding_mode="replicate", include_stride1=True)
    for n in (size, size + 1, size + 3):
        x = torch.randn(1, 2, *(n,) * dims)
        for m in valid_output_sizes(deconv, n):
            wanted = (m,) * dims
            assert new(x, output_size=wanted).shape == deconv(x, output_size=wanted).shape
            full = (1, 3, *wanted)  # the batch and channel axes may be given too
            assert new(x, output_size=full).shape == deconv(x, output_size=full).shape


@pytest.mark.parametrize("s", [2, 3])
@pytest.mark.parametrize("k_new", [1, 2, 3])
def test_lifted_deconvolution_is_reproduced_exactly_at_every_output_size(s, k_new) -> None:
    """The window that output_size picks starts where the deconvolution's does: on inputs that
    no padding rule reaches, the converted lift equals the deconvolution at every size."""
    gen = torch.Generator().manual_seed(10 * s + k_new)
    k_old = s + k_new - 1
    for p in range(k_old):
        for op in range(s):
            w = torch.randn(3, 2, k_new, k_new, generator=gen, dtype=torch.float64)
            deconv = lifted_deconv(w, s, p, op)
            new = convert(deconv, init="project", kernel_size=k_new)
            x = interior_input(2, (2 * k_old + 5, 2 * k_old + 6), margin=k_old + 1)
            sizes = [valid_output_sizes(deconv, n) for n in x.shape[2:]]
            for wanted in itertools.product(*sizes):
                got, want = new(x, output_size=wanted), deconv(x, output_size=wanted)
                torch.testing.assert_close(got, want, rtol=0, atol=1e-12, msg=f"{p} {op}")


def test_output_size_outside_the_deconvolutions_range_is_named() -> None:
    adapter = convert(nn.ConvTranspose2d(4, 4, 3, 2, 1))  # 2L - 1 .. 2L
    x = torch.randn(1, 4, 5, 6)
    assert adapter(x, output_size=(10, 11)).shape == (1, 4, 10, 11)
    with pytest.raises(
        ValueError,
        match=re.escape(
            "output_size must lie between (9, 11) and (10, 12) for an input of spatial size "
            "(5, 6), got (11, 11)"
        ),
    ):
        adapter(x, output_size=(11, 11))
    with pytest.raises(
        ValueError,
        match=re.escape(
            "output_size must hold 2 spatial sizes (or 4 with batch and channels), got (10,)"
        ),
    ):
        adapter(x, output_size=(10,))


def test_a_bare_resize_conv_takes_output_size_within_one_stride() -> None:
    """``ResizeConvNd(output_size=...)``: the first samples of its output, extended at the end
    by edge replication, within s L -+ (s - 1); the DCGAN-like deconvolution it replaces takes
    2 L and 2 L + 1, both given."""
    deconv = nn.ConvTranspose2d(4, 2, 4, 2, 1)
    new = convert(deconv)
    assert isinstance(new, checkerscope.nn.ResizeConv2d)
    x = torch.randn(1, 4, 5, 5)
    full = new(x)
    torch.testing.assert_close(new(x, output_size=(9, 10)), full[..., :9, :])
    extended = new(x, output_size=(11, 10))
    assert extended.shape == deconv(x, output_size=(11, 10)).shape == (1, 2, 11, 10)
    padded = torch.nn.functional.pad(x, (0, 0, 0, 1), mode="replicate")
    torch.testing.assert_close(extended, new(padded)[..., :11, :])
    with pytest.raises(ValueError, match=re.escape("output_size must lie between (9, 9)")):
        new(x, output_size=(12, 10))
