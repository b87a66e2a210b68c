"""The window that makes a resize-convolution's output line up with a transposed convolution's.

Geometry. ``ConvTranspose`` with stride s, kernel k, padding p, output padding op and
dilation d maps a length L to ``(L - 1) s - 2p + d (k - 1) + op + 1 = s L + c`` with the
constant ``c = -s - 2p + d (k - 1) + op + 1``. A resize-conv maps L to ``s L``. When
``c == 0`` and the two footprints are aligned the replacement is a bare ``ResizeConvNd``;
otherwise a :class:`ResizeConvAdapter` returns the window of ``s L + c`` positions of the
resize-conv's output whose footprints line up with the deconvolution's (extending the
input by edge replication where that window runs past it, :mod:`checkerscope.functional.window`),
so shapes agree for every L. ``output_size=`` works as the deconvolution's: it picks the output
padding in ``[0, s)``, which lengthens the window at its end.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

import torch
from torch import nn

from checkerscope import checks as v
from checkerscope.functional import resize_conv as R
from checkerscope.functional import window as W
from checkerscope.nn.resize_conv import ResizeConvNd


class ResizeConvAdapter(nn.Module):
    """A resize-conv whose output is a shifted window of ``s L + extra`` positions per axis.

    Along each spatial axis the output is positions ``[offset, offset + s L + extra)`` of
    ``resize(x)``'s output (length ``s L``), where positions outside it are computed by
    extending ``x`` by edge replication first. :func:`checkerscope.convert` uses it to match
    the output shape and alignment of a ``ConvTranspose`` whose output is not exactly ``s L``.
    ``output_padding`` is that layer's: ``forward(x, output_size)`` accepts, as the
    ``ConvTranspose`` does, sizes ``s L + extra - output_padding + q`` for q in ``[0, s)``, and
    gives the window of that length from the same start.

    Shapes: (N, C_in, *S) -> (N, C_out, *(s S + extra)).

    Example:
        >>> import checkerscope
        >>> rc = checkerscope.nn.ResizeConv2d(8, 4)
        >>> ResizeConvAdapter(rc, offset=(-1, -1), extra=(2, 2))(torch.randn(1, 8, 5, 5)).shape
        torch.Size([1, 4, 12, 12])
        >>> adapter = ResizeConvAdapter(rc, offset=(0, 0), extra=(-1, -1))
        >>> adapter(torch.randn(1, 8, 5, 5), output_size=(10, 9)).shape
        torch.Size([1, 4, 10, 9])
    """

    def __init__(
        self,
        resize: ResizeConvNd,
        offset: tuple[int, ...],
        extra: tuple[int, ...],
        output_padding: tuple[int, ...] | None = None,
    ) -> None:
        super().__init__()
        dims = resize.dims
        if output_padding is None:
            output_padding = (0,) * dims
        if len(offset) != dims or len(extra) != dims or len(output_padding) != dims:
            raise ValueError(
                f"offset, extra and output_padding must have one entry per spatial axis "
                f"({dims}), got offset={offset!r}, extra={extra!r}, "
                f"output_padding={output_padding!r}"
            )
        self.resize = resize
        self.offset = tuple(int(a) for a in offset)
        self.extra = tuple(int(c) for c in extra)
        self.output_padding = tuple(v.nonnegative_int("output_padding", q) for q in output_padding)

    def forward(self, x: torch.Tensor, output_size: Sequence[int] | None = None) -> torch.Tensor:
        v.check_input("input", x, dims=self.resize.dims, channels=self.resize.in_channels)
        s, extra = self.resize.scale_factor, self.extra
        if output_size is not None:
            low = tuple(c - q for c, q in zip(self.extra, self.output_padding, strict=True))
            extra = W.output_extra(output_size, x, s, low, tuple(c + s - 1 for c in low))
        return W.resized_window(self.resize, x, s, self.offset, extra)

    def extra_repr(self) -> str:
        text = f"offset={self.offset}, extra={self.extra}"
        return (
            text + f", output_padding={self.output_padding}" if any(self.output_padding) else text
        )


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
