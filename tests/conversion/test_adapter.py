"""checkerscope.conversion.adapter: every replacement has the deconvolution's output shape and
alignment. The strongest check: a deconvolution whose kernel is the lift of a resize-conv
kernel is reproduced exactly by the converted layer, for every padding and output padding.
"""

from __future__ import annotations

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
from checkerscope.functional.window import crop_window, pad_for_window

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


def test_window_pad_and_crop_cover_the_window_exactly() -> None:
    # offset -1, extra +2 at scale 2 on a length-5 input: one pixel of replication each side,
    # and the window [-1, 11) of the unpadded output is [1, 13) of the padded one.
    x = torch.arange(5.0).reshape(1, 1, 5)
    padded = pad_for_window(x, 2, (-1,), (2,))
    assert padded.flatten().tolist() == [0.0, 0.0, 1.0, 2.0, 3.0, 4.0, 4.0]
    y = torch.arange(14.0).reshape(1, 1, 14)  # stands in for the resize-conv of ``padded``
    assert crop_window(y, x, 2, (-1,), (2,)).flatten().tolist() == list(range(1, 13))
    assert pad_for_window(x, 2, (0,), (0,)) is x


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
