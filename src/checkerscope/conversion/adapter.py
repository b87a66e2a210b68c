"""The window that makes a resize-convolution's output line up with a transposed convolution's.

Geometry. ``ConvTranspose`` with stride s, kernel k, padding p, output padding op and
dilation d maps a length L to ``(L - 1) s - 2p + d (k - 1) + op + 1 = s L + c`` with the
constant ``c = -s - 2p + d (k - 1) + op + 1``. A resize-conv maps L to ``s L``. When
``c == 0`` and the two footprints are aligned the replacement is a bare ``ResizeConvNd``;
otherwise a :class:`ResizeConvAdapter` returns the window of ``s L + c`` positions of the
resize-conv's output whose footprints line up with the deconvolution's (extending the
input by edge replication where that window runs past it), so shapes agree for every L.
"""

from __future__ import annotations

import math
from fractions import Fraction

import torch
import torch.nn.functional as F
from torch import nn

from checkerscope import checks as v
from checkerscope.functional import resize_conv as R
from checkerscope.nn.resize_conv import ResizeConvNd


class ResizeConvAdapter(nn.Module):
    """A resize-conv whose output is a shifted window of ``s L + extra`` positions per axis.

    Along each spatial axis the output is positions ``[offset, offset + s L + extra)`` of
    ``resize(x)``'s output (length ``s L``), where positions outside it are computed by
    extending ``x`` by edge replication first. :func:`checkerscope.convert` uses it to match
    the output shape and alignment of a ``ConvTranspose`` whose output is not exactly ``s L``.

    Shapes: (N, C_in, *S) -> (N, C_out, *(s S + extra)).

    Example:
        >>> import checkerscope
        >>> rc = checkerscope.nn.ResizeConv2d(8, 4)
        >>> ResizeConvAdapter(rc, offset=(-1, -1), extra=(2, 2))(torch.randn(1, 8, 5, 5)).shape
        torch.Size([1, 4, 12, 12])
    """

    def __init__(
        self, resize: ResizeConvNd, offset: tuple[int, ...], extra: tuple[int, ...]
    ) -> None:
        super().__init__()
        dims = resize.dims
        if len(offset) != dims or len(extra) != dims:
            raise ValueError(
                f"offset and extra must have one entry per spatial axis ({dims}), "
                f"got offset={offset!r}, extra={extra!r}"
            )
        self.resize = resize
        self.offset = tuple(int(a) for a in offset)
        self.extra = tuple(int(c) for c in extra)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v.check_input("input", x, dims=self.resize.dims, channels=self.resize.in_channels)
        s = self.resize.scale_factor
        padded = pad_for_window(x, s, self.offset, self.extra)
        return crop_window(self.resize(padded), x, s, self.offset, self.extra)

    def extra_repr(self) -> str:
        return f"offset={self.offset}, extra={self.extra}"


def _input_pad(s: int, offset: int, extra: int) -> tuple[int, int]:
    """Low-resolution pixels to add on each side so that the window
    ``[offset, offset + s L + extra)`` lies inside the resize-conv's output."""
    return math.ceil(max(0, -offset) / s), math.ceil(max(0, extra + offset) / s)


def pad_for_window(
    x: torch.Tensor, s: int, offset: tuple[int, ...], extra: tuple[int, ...]
) -> torch.Tensor:
    """``x`` (N, C, *S) extended by edge replication so that the window of
    :class:`ResizeConvAdapter` lies inside its resize-conv's output (by scale ``s``).

    Example:
        >>> pad_for_window(torch.zeros(1, 1, 5), 2, offset=(-1,), extra=(2,)).shape
        torch.Size([1, 1, 7])
    """
    pads: list[int] = []  # F.pad takes the last axis first
    for a, c in zip(reversed(offset), reversed(extra), strict=True):
        pads.extend(_input_pad(s, a, c))
    return F.pad(x, pads, mode="replicate") if any(pads) else x


def crop_window(
    y: torch.Tensor, x: torch.Tensor, s: int, offset: tuple[int, ...], extra: tuple[int, ...]
) -> torch.Tensor:
    """Cut the window ``[offset, offset + s L + extra)`` per axis out of ``y``, the
    resize-conv's output for ``pad_for_window(x, ...)``: (N, C, *(s S + extra)).

    Example:
        >>> x = torch.zeros(1, 1, 5)
        >>> y = torch.zeros(1, 1, 2 * pad_for_window(x, 2, (-1,), (2,)).shape[-1])
        >>> crop_window(y, x, 2, offset=(-1,), extra=(2,)).shape
        torch.Size([1, 1, 12])
    """
    index: list[slice] = [slice(None), slice(None)]
    for axis, (a, c) in enumerate(zip(offset, extra, strict=True)):
        left, _ = _input_pad(s, a, c)
        start = a + s * left
        index.append(slice(start, start + s * x.shape[2 + axis] + c))
    return y[tuple(index)]


def _aligned_offset(s: int, p: int, d: int, k_old: int, k_new: int, extra: int) -> int:
    """Offset of the adapter window that centres the resize-conv's footprint of one input pixel
    on the deconvolution's.

    Deconvolution: input i paints outputs ``s i - p + d j`` (j < k_old), centre
    ``s i - p + d (k_old - 1) / 2``. Nearest resize then a 'same' convolution: input i covers
    ``s i .. s i + s - 1`` and the convolution spreads that by its left/right padding, centre
    ``s i + (s - 1) / 2 + left - (k_new - 1) / 2``. Half-way ties go to the offset that crops
    most evenly (0 when the lengths already agree).
    """
    left = R.same_padding(k_new)[0]
    ideal = Fraction(s - 1, 2) + left - Fraction(k_new - 1, 2) + p - Fraction(d * (k_old - 1), 2)
    if ideal.denominator == 1:
        return int(ideal)
    lo, hi = math.floor(ideal), math.ceil(ideal)
    balanced = Fraction(-extra, 2)
    return lo if abs(lo - balanced) <= abs(hi - balanced) else hi


def matching_window(
    deconv: nn.Module, kernel_size: tuple[int, ...]
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``(offset, extra)`` per axis that make a resize-conv with ``kernel_size`` match the
    output shape and alignment of ``deconv`` (a ``ConvTransposeNd``); see the module docstring.

    Example:
        >>> matching_window(torch.nn.ConvTranspose2d(4, 4, 3, 2, 1, output_padding=1), (3, 3))
        ((0, 0), (0, 0))
        >>> matching_window(torch.nn.ConvTranspose1d(4, 4, 4, 2, 0), (3,))
        ((-1,), (2,))
    """
    s = deconv.stride[0]
    offset, extra = [], []
    for axis, k_new in enumerate(kernel_size):
        p, d, k = deconv.padding[axis], deconv.dilation[axis], deconv.kernel_size[axis]
        c = -s - 2 * p + d * (k - 1) + deconv.output_padding[axis] + 1
        extra.append(c)
        offset.append(_aligned_offset(s, p, d, k, k_new, c))
    return tuple(offset), tuple(extra)


def resize_conv_and_window(
    replacement: nn.Module,
) -> tuple[ResizeConvNd, tuple[int, ...], tuple[int, ...]]:
    """``(resize-conv, offset, extra)`` of a replacement made by :func:`checkerscope.convert`:
    an adapter's parts, or a bare ``ResizeConvNd`` with a zero window shift.

    Example:
        >>> import checkerscope
        >>> resize_conv_and_window(checkerscope.nn.ResizeConv1d(2, 2))[1:]
        ((0,), (0,))
    """
    if isinstance(replacement, ResizeConvAdapter):
        return replacement.resize, replacement.offset, replacement.extra
    if isinstance(replacement, ResizeConvNd):
        return replacement, (0,) * replacement.dims, (0,) * replacement.dims
    raise ValueError(
        f"replacement must be a ResizeConv1d/2d/3d or a ResizeConvAdapter, "
        f"got {type(replacement).__name__}"
    )
