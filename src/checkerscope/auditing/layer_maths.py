"""The numbers the audit reads off a layer without running the model: its phase imbalance, its
interior overlap ratio, its kernel and stride, its reach, and the interior of a map it scores."""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import nn

from checkerscope import checks as v
from checkerscope.analysis import layers as L
from checkerscope.analysis.imbalance import phase_imbalance
from checkerscope.analysis.overlap_counts import overlap_summary
from checkerscope.auditing.layers import (
    ANTIALIASED_CONVS,
    BLURPOOLS,
    MAXBLURPOOLS,
    SUBPIXELS,
    per_axis,
)
from checkerscope.auditing.subpixel import JoinedSubPixel
from checkerscope.conversion import BlurredAvgPool, ResizeConvAdapter
from checkerscope.functional.blurpool import binomial_taps, box_taps
from checkerscope.nn import SubPixelConvNd


def layer_imbalance(m: nn.Module) -> float | None:
    """:func:`~checkerscope.analysis.phase_imbalance` of a layer's weights: of the layer for
    upsamplers and convolutions (of its phase sums for a joined sub-pixel pair), of the strided
    low-pass filter whose transpose sends back the gradient for blur-pool, max-blur-pool and
    anti-aliased layers; None for a layer without weights to read.

    Example:
        >>> from checkerscope.nn import BlurPool2d
        >>> layer_imbalance(BlurPool2d(3)), layer_imbalance(nn.Upsample(scale_factor=2))
        (0.0, None)
    """
    if isinstance(m, ResizeConvAdapter):
        m = m.resize
    if any(p.device.type != "cpu" for p in m.parameters()):
        m = copy.deepcopy(m).cpu()  # phase_imbalance does its small sums on the CPU
    if isinstance(m, JoinedSubPixel):
        return phase_imbalance(_phase_sums_as_deconv(m)).imbalance
    if isinstance(m, (*L.RESIZE_CONVS, SubPixelConvNd)) or L.is_conv(m) or L.is_transposed_conv(m):
        return phase_imbalance(m).imbalance
    blur = m.blur if isinstance(m, ANTIALIASED_CONVS) else m
    if isinstance(blur, (*BLURPOOLS, *MAXBLURPOOLS)):
        # The blur sends back its gradient through the transpose of a strided convolution
        # with the binomial taps: phase_imbalance reads that convolution.
        return phase_imbalance(_filter_as_conv(blur.dims, _blur_taps(blur), blur.stride)).imbalance
    if isinstance(m, BlurredAvgPool):
        return phase_imbalance(_filter_as_conv(m.dims, _blur_taps(m), m.stride)).imbalance
    return None


def _blur_taps(m: nn.Module) -> list[torch.Tensor]:
    """Per axis, the 1-D taps of the strided low-pass filter of a blurring layer: the binomial
    of blur-pool, or for a blurred average pool the binomial convolved with the pool's box."""
    taps = binomial_taps(m.filter_size, dtype=torch.float64)
    if not isinstance(m, BlurredAvgPool):
        return [taps] * m.dims
    return [
        torch.nn.functional.conv1d(
            taps.view(1, 1, -1), box_taps(k, dtype=torch.float64).view(1, 1, -1), padding=k - 1
        ).flatten()
        for k in m.kernel_size
    ]


def _filter_as_conv(dims: int, taps: list[torch.Tensor], stride: Any) -> nn.Module:
    """A single-channel strided ``ConvNd`` (no bias) whose kernel is the outer product of
    ``taps``, padded by ``(n - 1) // 2`` per axis as the blur pads."""
    sizes = tuple(len(t) for t in taps)
    conv = L.CONVS[dims - 1](
        1, 1, sizes, stride=stride, padding=tuple((n - 1) // 2 for n in sizes), bias=False
    )
    kernel = taps[0]
    for t in taps[1:]:
        kernel = kernel.unsqueeze(-1) * t
    with torch.no_grad():
        conv.weight.copy_(kernel)
    return conv


def _phase_sums_as_deconv(m: JoinedSubPixel) -> nn.Module:
    """A ``ConvTranspose`` with stride s and kernel s whose tap at phase q holds the sum of the
    pair's taps that write phase q: phase_imbalance reads nothing but these sums."""
    s, d, conv = m.scale_factor, m.dims, m.conv
    w = conv.weight.detach().to(torch.float64)
    sums = w.sum(dim=tuple(range(2, w.dim())))  # (C s^d, C_in / groups)
    g, c_out = conv.groups, conv.out_channels // s**d
    full = sums.new_zeros(conv.out_channels, conv.in_channels)
    rows, cols = conv.out_channels // g, conv.in_channels // g
    for group in range(g):
        full[group * rows : (group + 1) * rows, group * cols : (group + 1) * cols] = sums[
            group * rows : (group + 1) * rows
        ]
    weight = full.reshape(c_out, *(s,) * d, conv.in_channels).movedim(-1, 0)
    deconv = L.TRANSPOSED_CONVS[d - 1](conv.in_channels, c_out, s, stride=s, bias=False)
    deconv = deconv.to(torch.float64)
    with torch.no_grad():
        deconv.weight.copy_(weight)
    return deconv


def _transposed_ratio(kernel: Any, stride: Any, dilation: Any, dims: int) -> float:
    """Interior overlap ratio of the transposed convolution of a strided layer's geometry."""
    k = v.ntuple("kernel_size", kernel, dims)
    s = v.ntuple("stride", stride, dims)
    d = v.ntuple("dilation", dilation, dims)
    deconv = L.TRANSPOSED_CONVS[dims - 1](1, 1, k, s, dilation=d)
    return overlap_summary(deconv, (4 * max(s),) * dims).ratio


def layer_overlap_ratio(m: nn.Module, in_size: tuple[int, ...], in_channels: int) -> float | None:
    """The interior max/min overlap count (product over axes) of a layer called on inputs of
    spatial size ``in_size``: of the layer itself for upsamplers, of the transposed operation
    its backward pass is for strided convolutions, poolings and blurs; None where undefined.

    Example:
        >>> layer_overlap_ratio(nn.Conv2d(1, 1, 3, stride=2), (8, 8), 1)
        4.0
    """
    dims = len(in_size)
    try:
        if L.is_conv(m) or L.is_pool(m):
            d = getattr(m, "dilation", 1)
            return _transposed_ratio(m.kernel_size, m.stride, d, dims)
        blur = m.blur if isinstance(m, ANTIALIASED_CONVS) else m
        if isinstance(blur, (*BLURPOOLS, *MAXBLURPOOLS)):
            return _transposed_ratio(blur.filter_size, blur.stride, 1, dims)
        if isinstance(m, BlurredAvgPool):
            spans = tuple(k + m.filter_size - 1 for k in m.kernel_size)
            return _transposed_ratio(spans, m.stride, 1, dims)
        layer = m.resize if isinstance(m, ResizeConvAdapter) else m
        return overlap_summary(layer, in_size, in_channels=in_channels).ratio
    except ValueError:
        return None


def kernel_and_stride(
    m: nn.Module, in_size: tuple[int, ...], out_size: tuple[int, ...]
) -> tuple[tuple[int, ...] | None, tuple[int, ...] | None]:
    """(kernel size, stride or scale factor) of a layer, one entry per spatial axis; for a
    layer without a kernel, (None, the integer ratio of ``out_size`` to ``in_size`` or None).

    Example:
        >>> kernel_and_stride(nn.ConvTranspose2d(4, 4, 4, 2, 1), (8, 8), (16, 16))
        ((4, 4), (2, 2))
        >>> kernel_and_stride(nn.Upsample(scale_factor=2), (8, 8), (16, 16))
        (None, (2, 2))
    """
    dims = len(in_size)
    if isinstance(m, ResizeConvAdapter):
        m = m.resize
    if isinstance(m, JoinedSubPixel):
        return tuple(m.conv.kernel_size), (m.scale_factor,) * dims
    if isinstance(m, (*L.RESIZE_CONVS, SubPixelConvNd)):
        return tuple(m.kernel_size), (m.scale_factor,) * dims
    if isinstance(m, (*ANTIALIASED_CONVS, *MAXBLURPOOLS)):
        return tuple(m.kernel_size), (m.stride,) * dims
    if isinstance(m, BLURPOOLS):
        return (m.filter_size,) * dims, (m.stride,) * dims
    if isinstance(m, BlurredAvgPool):
        return tuple(m.kernel_size), tuple(m.stride)
    if L.is_conv(m) or L.is_transposed_conv(m) or L.is_pool(m):
        k, st = per_axis(m.kernel_size), per_axis(m.stride)
        return k * (dims // len(k)), st * (dims // len(st))
    ratios = [o // i for i, o in zip(in_size, out_size, strict=True) if i > 0 and o % i == 0]
    return None, tuple(ratios) if len(ratios) == dims else None


def layer_reach(m: nn.Module) -> int:
    """How far from a border, in pixels, a layer's padding can leave its mark: the kernel's
    extent plus one stride (whose positions an unaligned size leaves partly uncovered), plus
    the blur of an anti-aliased layer; the kernel times the scale for a sub-pixel conv.

    Example:
        >>> layer_reach(nn.Conv2d(1, 1, 3, stride=2)), layer_reach(nn.Upsample(scale_factor=2))
        (4, 2)
    """
    if isinstance(m, ResizeConvAdapter):
        m = m.resize
    if isinstance(m, SUBPIXELS):
        kernel = m.conv.kernel_size if isinstance(m, JoinedSubPixel) else m.kernel_size
        return m.scale_factor * max(kernel)
    k = max(per_axis(getattr(m, "kernel_size", 1)))
    d = max(per_axis(getattr(m, "dilation", 1)))
    s = getattr(m, "stride", None) or getattr(m, "scale_factor", None) or 1
    reach = d * (k - 1) + math.ceil(max(per_axis(s)))
    if isinstance(m, ANTIALIASED_CONVS):
        return reach + m.blur.filter_size
    return reach + m.filter_size if isinstance(m, (*MAXBLURPOOLS, BlurredAvgPool)) else reach


def interior(x: torch.Tensor, reach: int) -> torch.Tensor:
    """``x`` (B, C, *S) without a margin of ``max(n // 8, reach)`` at either end of each axis
    of length n (but keeping at least 4): padding makes structure at the borders that is no
    periodic pattern, and in a map that is constant inside (the gradient a layer sends back
    when all of its outputs get the same) the borders would be all that the score sees.

    Example:
        >>> interior(torch.zeros(1, 1, 32, 6), reach=5).shape
        torch.Size([1, 1, 22, 4])
    """
    index = [slice(None), slice(None)]
    for n in x.shape[2:]:
        margin = max(0, min(max(n // 8, reach), (n - 4) // 2))
        index.append(slice(margin, n - margin))
    return x[tuple(index)]
