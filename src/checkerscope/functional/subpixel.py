"""Sub-pixel convolution and its checkerboard-free ICNR initialization.

Sub-pixel convolution (Shi et al. 2016): a stride-1 convolution to ``C_out * s**2`` channels
at low resolution, then a pixel shuffle that moves channel ``c*s*s + i*s + j`` to output
channel ``c``, position ``(s*h + i, s*w + j)``. Each of the s**2 sub-kernels writes one phase
of every s x s block; drawn independently, the phases get different gains, which is a
checkerboard before any training.

ICNR (Aitken et al. 2017, "Checkerboard artifact free sub-pixel convolution"): draw one
sub-kernel ``w0`` (C_out, C_in, *K) as ``nn.ConvNd`` would and copy it into all s**d phases.
At initialization the layer then equals ``nearest_upsample(conv(x, w0))``, which is also a
nearest resize-convolution whose high-resolution kernel is ``w0`` dilated by s
(:func:`nearest_resize_conv_weight`). The bias is copied the same way, since a bias that
differed between phases would itself be a checkerboard.

The convolution here pads like ``padding="same"``: ``(k-1)//2`` before, the rest after.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from checkerscope import checks as v
from checkerscope.functional.blurpool import blur, box_taps, pad_for_filter, separable_kernel

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def icnr_weight(sub_kernel: torch.Tensor, scale_factor: int) -> torch.Tensor:
    """Copy ``sub_kernel`` (C_out, C_in, *K) into every sub-pixel phase.

    Returns (C_out * s**d, C_in, *K), d = len(K), in the channel order of ``F.pixel_shuffle``
    (all phases of output channel 0 first), so ``pixel_shuffle(conv(x, icnr_weight(w0, s)), s)
    == nearest_upsample(conv(x, w0), s)``.

    Example:
        >>> icnr_weight(torch.randn(8, 4, 3, 3), 2).shape
        torch.Size([32, 4, 3, 3])
    """
    scale = v.scale_factor("scale_factor", scale_factor)
    return sub_kernel.repeat_interleave(scale ** (sub_kernel.dim() - 2), dim=0)


def _conv_default_init_(weight: torch.Tensor) -> None:
    nn.init.kaiming_uniform_(weight, a=math.sqrt(5))


@torch.no_grad()
def icnr_(
    weight: torch.Tensor,
    scale_factor: int,
    bias: torch.Tensor | None = None,
    init: Callable[[torch.Tensor], object] | None = None,
) -> torch.Tensor:
    """Fill a sub-pixel conv ``weight`` (C_out * s**d, C_in, *K) with ICNR in place.

    One sub-kernel (C_out, C_in, *K) is drawn by ``init`` (default: ``nn.ConvNd``'s
    ``kaiming_uniform_(a=sqrt(5))``; its fan-in equals the full weight's, so the scale is that
    of a plain conv) and copied into all s**d phases. ``bias`` (C_out * s**d,), if given, gets
    ``nn.ConvNd``'s uniform init, one value per output channel, copied the same way.
    Returns ``weight``.

    Example:
        >>> conv = torch.nn.Conv2d(4, 3 * 2**2, 3, padding=1)
        >>> _ = icnr_(conv.weight, 2, conv.bias)
        >>> bool((conv.weight[0] == conv.weight[3]).all())
        True
    """
    scale = v.scale_factor("scale_factor", scale_factor)
    phases = scale ** (weight.dim() - 2)
    if weight.dim() < 3 or weight.shape[0] % phases:
        raise ValueError(
            f"weight must have shape (C_out * scale_factor**d, C_in, *kernel) with a first axis "
            f"divisible by {phases}, got shape {tuple(weight.shape)}"
        )
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(
            f"bias must have shape ({weight.shape[0]},) to match weight, got {tuple(bias.shape)}"
        )
    sub_kernel = torch.empty(
        (weight.shape[0] // phases, *weight.shape[1:]), dtype=weight.dtype, device=weight.device
    )
    (init or _conv_default_init_)(sub_kernel)
    weight.copy_(icnr_weight(sub_kernel, scale))
    if bias is not None:
        bound = 1.0 / math.sqrt(sub_kernel[0].numel())
        sub_bias = torch.empty(weight.shape[0] // phases, dtype=bias.dtype, device=bias.device)
        bias.copy_(sub_bias.uniform_(-bound, bound).repeat_interleave(phases))
    return weight


def nearest_resize_conv_weight(sub_kernel: torch.Tensor, scale_factor: int) -> torch.Tensor:
    """The high-resolution kernel of the nearest resize-conv equal to ICNR with ``sub_kernel``.

    ``sub_kernel`` (C_out, C_in, *K) is dilated by s (s-1 zeros between taps). Resize-conv pads
    its kernel (size n) by ``(n-1)//2`` in front, and the taps must fall on whole s x s blocks:

    * odd k: size ``s*(k-1) + 1``, the dilated taps fill it;
    * even k: size ``s*k``, with ``s-1`` leading zeros (plain dilation would sit s/2 samples
      off the block grid, which is not a nearest resize of the same convolution).

    With zero padding in both, ``resize_conv(x, nearest_resize_conv_weight(w0, s), b, s,
    "nearest", "zeros") == pixel_shuffle(conv(x, icnr_weight(w0, s), icnr(b)), s)`` exactly.

    Example:
        >>> nearest_resize_conv_weight(torch.randn(8, 4, 3, 3), 2).shape
        torch.Size([8, 4, 5, 5])
    """
    scale = v.scale_factor("scale_factor", scale_factor)
    sizes, windows = [], []
    for k in sub_kernel.shape[2:]:
        size = scale * (k - 1) + 1 if k % 2 else scale * k
        start = (size - 1) // 2 - scale * ((k - 1) // 2)
        sizes.append(size)
        windows.append(slice(start, start + scale * (k - 1) + 1, scale))
    out = sub_kernel.new_zeros((*sub_kernel.shape[:2], *sizes))
    out[(..., *windows)] = sub_kernel
    return out


def subpixel_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    scale_factor: int,
    padding_mode: str = "zeros",
    blur_output: bool = False,
) -> torch.Tensor:
    """Sub-pixel convolution: "same"-padded conv, pixel shuffle, optional zero-order-hold blur.

    Shapes: ``x`` (N, C_in, H, W), ``weight`` (C_out * s**2, C_in, kH, kW), ``bias``
    (C_out * s**2,) or None; returns (N, C_out, s*H, s*W).

    ``blur_output=True`` averages each s x s window after the shuffle (Sugawara et al. 2019:
    a zero-order hold after the upsampler makes a constant input give a constant output for
    any weights); the window starts ``(s-1)//2`` samples before the output sample and the
    edges are replicate-padded, so the size is kept and, for even s, the result moves half a
    high-resolution sample later.

    Example:
        >>> x = torch.randn(1, 4, 8, 8)
        >>> subpixel_conv2d(x, torch.randn(3 * 4, 4, 3, 3), None, 2).shape
        torch.Size([1, 3, 16, 16])
    """
    padded = pad_for_filter(x, tuple(weight.shape[2:]), padding_mode)
    y = F.pixel_shuffle(F.conv2d(padded, weight, bias), scale_factor)
    if blur_output:
        y = blur(y, separable_kernel(box_taps(scale_factor, device=y.device), 2), 1, "replicate")
    return y
