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
from checkerscope.auditing.layers import ANTIALIASED_CONVS, BLURPOOLS, per_axis
from checkerscope.conversion import ResizeConvAdapter
from checkerscope.functional.blurpool import binomial_taps, separable_kernel
from checkerscope.nn import SubPixelConv2d


def layer_imbalance(m: nn.Module) -> float | None:
    """:func:`~checkerscope.analysis.phase_imbalance` of a layer's weights: of the layer for
    upsamplers and convolutions, of the strided binomial blur whose transpose sends back the
    gradient for blur-pool and anti-aliased layers; None for a layer without weights to read.

    Example:
        >>> from checkerscope.nn import BlurPool2d
        >>> layer_imbalance(BlurPool2d(3)), layer_imbalance(nn.Upsample(scale_factor=2))
        (0.0, None)
    """
    if isinstance(m, ResizeConvAdapter):
        m = m.resize
    if any(p.device.type != "cpu" for p in m.parameters()):
        m = copy.deepcopy(m).cpu()  # phase_imbalance does its small sums on the CPU
    if isinstance(m, (*L.RESIZE_CONVS, SubPixelConv2d)) or L.is_conv(m) or L.is_transposed_conv(m):
        return phase_imbalance(m).imbalance
    blur = m.blur if isinstance(m, ANTIALIASED_CONVS) else m
    if isinstance(blur, BLURPOOLS):
        # The blur sends back its gradient through the transpose of a strided convolution
        # with the binomial taps: phase_imbalance reads that convolution.
        return phase_imbalance(_blur_as_conv(blur)).imbalance
    return None


def _blur_as_conv(blur: nn.Module) -> nn.Module:
    dims, f = blur.dims, blur.filter_size
    conv = L.CONVS[dims - 1](1, 1, f, stride=blur.stride, padding=(f - 1) // 2, bias=False)
    with torch.no_grad():
        conv.weight.copy_(separable_kernel(binomial_taps(f, dtype=torch.float64), dims))
    return conv


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
        if isinstance(blur, BLURPOOLS):
            return _transposed_ratio(blur.filter_size, blur.stride, 1, dims)
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
    if isinstance(m, (*L.RESIZE_CONVS, SubPixelConv2d)):
        return tuple(m.kernel_size), (m.scale_factor,) * dims
    if isinstance(m, ANTIALIASED_CONVS):
        return tuple(m.kernel_size), (m.stride,) * dims
    if isinstance(m, BLURPOOLS):
        return (m.filter_size,) * dims, (m.stride,) * dims
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
    if isinstance(m, SubPixelConv2d):
        return m.scale_factor * max(m.kernel_size)
    k = max(per_axis(getattr(m, "kernel_size", 1)))
    d = max(per_axis(getattr(m, "dilation", 1)))
    s = getattr(m, "stride", None) or getattr(m, "scale_factor", None) or 1
    reach = d * (k - 1) + math.ceil(max(per_axis(s)))
    return reach + m.blur.filter_size if isinstance(m, ANTIALIASED_CONVS) else reach


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
