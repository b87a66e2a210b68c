"""Resize-convolution layers: a drop-in, checkerboard-free replacement for ConvTransposeNd.

Odena, Dumoulin & Olah (2016), "Deconvolution and Checkerboard Artifacts".
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from checkerscope import checks as v
from checkerscope.functional import resize_conv as R
from checkerscope.functional import window as W


class ResizeConvNd(nn.Module):
    """The base class of :class:`ResizeConv1d`, :class:`ResizeConv2d` and
    :class:`ResizeConv3d`: interpolate by ``scale_factor``, pad, convolve; ``dims`` spatial axes.

    Use it to recognise any resize-convolution (``isinstance(m, ResizeConvNd)``); build one of
    the subclasses. See :func:`checkerscope.functional.resize_conv.resize_conv` for the maths.

    Example:
        >>> isinstance(ResizeConv2d(4, 2), ResizeConvNd), ResizeConv2d.dims
        (True, 2)
    """

    dims: int

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, ...] = 3,
        scale_factor: int = 2,
        mode: str = "nearest",
        padding_mode: str = "reflect",
        bias: bool = True,
        impl: str = "auto",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.in_channels = v.positive_int("in_channels", in_channels)
        self.out_channels = v.positive_int("out_channels", out_channels)
        self.kernel_size = v.ntuple("kernel_size", kernel_size, self.dims)
        self.scale_factor = v.scale_factor("scale_factor", scale_factor)
        self.mode = R.canonical_mode(mode)
        self.padding_mode = v.one_of("padding_mode", padding_mode, R.PADDING_MODES)
        self.impl = v.one_of("impl", impl, R.IMPLS)
        factory = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(
            torch.empty(out_channels, in_channels, *self.kernel_size, **factory)
        )
        self.bias = nn.Parameter(torch.empty(out_channels, **factory)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialize exactly as ``nn.ConvNd`` does, so swapping layers keeps the init scale."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight[0].numel()
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor, output_size: Sequence[int] | None = None) -> torch.Tensor:
        """(N, C_in, *S) -> (N, C_out, *(s S)); ``output_size`` (as ``ConvTransposeNd``'s, each
        within ``s L +- (s - 1)``) takes the first ``output_size`` samples of the output of ``x``
        extended at the end by edge replication (:mod:`checkerscope.functional.window`)."""
        v.check_input("input", x, dims=self.dims, channels=self.in_channels)
        if output_size is not None:
            s, zero = self.scale_factor, (0,) * self.dims
            extra = W.output_extra(output_size, x, s, (1 - s,) * self.dims, (s - 1,) * self.dims)
            return W.resized_window(self.forward, x, s, zero, extra)
        return R.resize_conv(
            x, self.weight, self.bias, self.scale_factor, self.mode, self.padding_mode, self.impl
        )

    def extra_repr(self) -> str:
        s = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"scale_factor={self.scale_factor}, mode={self.mode!r}, "
            f"padding_mode={self.padding_mode!r}"
        )
        if self.bias is None:
            s += ", bias=False"
        return s + f", impl={self.impl!r}"


class ResizeConv1d(ResizeConvNd):
    """Upsample (N, C_in, L) to (N, C_out, s*L): interpolate, reflect-pad, convolve.

    Parameters ``weight`` (C_out, C_in, k) and ``bias`` (C_out,) are those of ``nn.Conv1d``.

    Example:
        >>> ResizeConv1d(16, 8)(torch.randn(2, 16, 100)).shape
        torch.Size([2, 8, 200])
    """

    dims = 1


class ResizeConv2d(ResizeConvNd):
    """Upsample (N, C_in, H, W) to (N, C_out, s*H, s*W): interpolate, reflect-pad, convolve.

    A drop-in replacement for ``nn.ConvTranspose2d(C_in, C_out, 4, 2, 1)`` without its
    checkerboard artifacts; parameters ``weight`` (C_out, C_in, k, k) and ``bias`` (C_out,)
    are those of ``nn.Conv2d``, so state dicts map.

    Example:
        >>> ResizeConv2d(128, 64)(torch.randn(1, 128, 32, 32)).shape
        torch.Size([1, 64, 64, 64])
    """

    dims = 2


class ResizeConv3d(ResizeConvNd):
    """Upsample (N, C_in, D, H, W) to (N, C_out, s*D, s*H, s*W): interpolate, pad, convolve.

    Example:
        >>> ResizeConv3d(4, 2)(torch.randn(1, 4, 4, 4, 4)).shape
        torch.Size([1, 2, 8, 8, 8])
    """

    dims = 3
