"""A window of an upsampler's output: the positions ``[offset, offset + s L + extra)`` per axis.

A transposed convolution maps a length L to ``s L + c``, and ``output_size=`` picks c within a
range of s values (its ``output_padding``); an upsampler by s maps L to ``s L``. To give the
transposed convolution's size, the upsampler's output is cut to a window, and where the window
runs past the output the input is first extended by edge replication (a pixel beyond the border
stands for the border pixel, as nearest resizing would have it). :func:`resized_window` does
that for any upsampler; ``ResizeConvNd(output_size=...)`` and
:class:`checkerscope.conversion.ResizeConvAdapter` are built on it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F


def _input_pad(s: int, offset: int, extra: int) -> tuple[int, int]:
    """Low-resolution pixels to add on each side so that the window
    ``[offset, offset + s L + extra)`` lies inside the upsampler's output."""
    return math.ceil(max(0, -offset) / s), math.ceil(max(0, extra + offset) / s)


def pad_for_window(
    x: torch.Tensor, s: int, offset: tuple[int, ...], extra: tuple[int, ...]
) -> torch.Tensor:
    """``x`` (N, C, *S) extended by edge replication so that the window ``[offset, offset +
    s L + extra)`` of each axis lies inside the output of an upsampler by ``s``.

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
    """Cut the window ``[offset, offset + s L + extra)`` per axis out of ``y``, the upsampler's
    output for ``pad_for_window(x, ...)``: (N, C, *(s S + extra)).

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


def resized_window(
    upsample: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    s: int,
    offset: tuple[int, ...],
    extra: tuple[int, ...],
) -> torch.Tensor:
    """The window ``[offset, offset + s L + extra)`` per axis of ``upsample`` (by ``s``) applied
    to ``x`` (N, C, *S) extended by edge replication where the window needs it.

    Example:
        >>> up = lambda t: t.repeat_interleave(2, dim=-1)
        >>> resized_window(up, torch.tensor([[[1.0, 2.0]]]), 2, (1,), (1,))
        tensor([[[1., 2., 2., 2., 2.]]])
    """
    return crop_window(upsample(pad_for_window(x, s, offset, extra)), x, s, offset, extra)


def output_extra(
    output_size: Any, x: torch.Tensor, s: int, low: tuple[int, ...], high: tuple[int, ...]
) -> tuple[int, ...]:
    """``output_size - s L`` per spatial axis, checked to lie in ``[low, high]``.

    ``output_size`` is given as to ``ConvTransposeNd.forward``: one size per spatial axis, or
    the full shape (batch and channels first, which are ignored).

    Raises:
        ValueError: naming ``output_size`` and the sizes it may take for this input.

    Example:
        >>> output_extra((9, 8), torch.zeros(1, 1, 4, 4), 2, low=(0, 0), high=(1, 1))
        (1, 0)
    """
    spatial = tuple(x.shape[2:])
    dims = len(spatial)
    if not isinstance(output_size, Sequence) or isinstance(output_size, str):
        raise ValueError(
            f"output_size must be a sequence of {dims} spatial sizes, got {output_size!r}"
        )
    sizes = tuple(output_size)
    if len(sizes) == dims + 2:
        sizes = sizes[2:]
    if len(sizes) != dims or not all(
        isinstance(n, (int, torch.SymInt)) and not isinstance(n, bool) for n in sizes
    ):
        raise ValueError(
            f"output_size must hold {dims} spatial sizes (or {dims + 2} with batch and channels), "
            f"got {output_size!r}"
        )
    lows = tuple(s * n + lo for n, lo in zip(spatial, low, strict=True))
    highs = tuple(s * n + hi for n, hi in zip(spatial, high, strict=True))
    if not all(lo <= n <= hi for n, lo, hi in zip(sizes, lows, highs, strict=True)):
        raise ValueError(
            f"output_size must lie between {lows} and {highs} for an input of spatial size "
            f"{spatial}, got {sizes}"
        )
    return tuple(n - s * length for n, length in zip(sizes, spatial, strict=True))
