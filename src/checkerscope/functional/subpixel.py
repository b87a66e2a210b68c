"""Sub-pixel convolution and its checkerboard-free ICNR initialization.

Sub-pixel convolution (Shi et al. 2016): a stride-1 convolution to ``C_out * s**d`` channels
at low resolution (d spatial axes), then a pixel shuffle that moves channel
``c*s*s + i*s + j`` to output channel ``c``, position ``(s*h + i, s*w + j)`` (in 2-D; the
phase index runs over the axes in order in 1-D and 3-D alike). Each of the s**d sub-kernels
writes one phase of every s x ... x s block; drawn independently, the phases get different
gains, which is a checkerboard before any training.

ICNR (Aitken et al. 2017, "Checkerboard artifact free sub-pixel convolution"): draw one
sub-kernel ``w0`` (C_out, C_in, *K) as ``nn.ConvNd`` would and copy it into all s**d phases.
At initialization the layer then equals ``nearest_upsample(conv(x, w0))``, which is also a
nearest resize-convolution whose high-resolution kernel is ``w0`` dilated by s
(:func:`nearest_resize_conv_weight`). The bias is copied the same way, since a bias that
differed between phases would itself be a checkerboard.

The convolution here pads like ``padding="same"``: ``(k-1)//2`` before, the rest after, by
:func:`checkerscope.functional.padding.pad` (deterministic gradients on CUDA).
"""

from __future__ import annotations

import itertools
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


_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def pixel_shuffle(x: torch.Tensor, scale_factor: int) -> torch.Tensor:
    """(N, C * s**d, *S) -> (N, C, *(s * S)) for d = 1, 2 or 3 spatial axes.

    Channel ``c * s**d + p`` goes to channel c, phase p (the phase's digits in base s are its
    offsets along the axes, first axis first), as ``F.pixel_shuffle`` does in 2-D.

    Example:
        >>> pixel_shuffle(torch.arange(4.0).view(1, 2, 2), 2)
        tensor([[[0., 2., 1., 3.]]])
    """
    s = scale_factor
    dims = x.dim() - 2
    spatial = x.shape[2:]
    y = x.reshape(x.shape[0], -1, *(s,) * dims, *spatial)
    # (N, C, p_1..p_d, S_1..S_d) -> (N, C, S_1, p_1, ..., S_d, p_d)
    order = [0, 1, *(i for a in range(dims) for i in (2 + dims + a, 2 + a))]
    y = y.permute(order)
    return y.reshape(x.shape[0], y.shape[1], *(s * n for n in spatial))


def _same_conv(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, padding_mode: str
) -> torch.Tensor:
    """A stride-1 convolution with "same" padding of ``padding_mode``."""
    kernel = tuple(weight.shape[2:])
    conv = _CONV[x.dim() - 2]
    if padding_mode == "zeros" and all(k % 2 for k in kernel):  # no padded copy needed
        return conv(x, weight, bias, padding=tuple((k - 1) // 2 for k in kernel))
    return conv(pad_for_filter(x, kernel, padding_mode), weight, bias)


def _box_blur(y: torch.Tensor, scale_factor: int) -> torch.Tensor:
    kernel = separable_kernel(box_taps(scale_factor, device=y.device), y.dim() - 2)
    return blur(y, kernel, 1, "replicate")


def subpixel_conv(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    scale_factor: int,
    padding_mode: str = "zeros",
    blur_output: bool = False,
) -> torch.Tensor:
    """Sub-pixel convolution: "same"-padded conv, pixel shuffle, optional zero-order-hold blur.

    Shapes: ``x`` (N, C_in, *S) with 1 to 3 spatial axes, ``weight`` (C_out * s**d, C_in,
    *K), ``bias`` (C_out * s**d,) or None; returns (N, C_out, *(s * S)).

    ``blur_output=True`` averages each s x ... x s window after the shuffle (Sugawara et al.
    2019: a zero-order hold after the upsampler makes a constant input give a constant output
    for any weights); the window starts ``(s-1)//2`` samples before the output sample and the
    edges are replicate-padded, so the size is kept and, for even s, the result moves half a
    high-resolution sample later.

    Example:
        >>> x = torch.randn(1, 4, 8, 8, 8)
        >>> subpixel_conv(x, torch.randn(3 * 2**3, 4, 3, 3, 3), None, 2).shape
        torch.Size([1, 3, 16, 16, 16])
    """
    y = pixel_shuffle(_same_conv(x, weight, bias, padding_mode), scale_factor)
    return _box_blur(y, scale_factor) if blur_output else y


def subpixel_conv_reference(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    scale_factor: int,
    padding_mode: str = "zeros",
    blur_output: bool = False,
) -> torch.Tensor:
    """:func:`subpixel_conv` by its definition, one phase at a time. Slow; for tests.

    Phase ``p = (p_1, ..., p_d)`` is the convolution with the sub-kernels of channels
    ``c * s**d + sum_a p_a * s**(d-a)``, written to every s-th output from offset p.
    """
    s = scale_factor
    dims = x.dim() - 2
    phases = s**dims
    padded = pad_for_filter(x, tuple(weight.shape[2:]), padding_mode)
    c_out = weight.shape[0] // phases
    out = x.new_zeros((x.shape[0], c_out, *(s * n for n in x.shape[2:])))
    for index, phase in enumerate(itertools.product(range(s), repeat=dims)):
        channels = torch.arange(c_out, device=x.device) * phases + index
        part = _CONV[dims](padded, weight[channels], None if bias is None else bias[channels])
        out[(..., *(slice(p, None, s) for p in phase))] = part
    return _box_blur(out, s) if blur_output else out


def subpixel_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    scale_factor: int,
    padding_mode: str = "zeros",
    blur_output: bool = False,
) -> torch.Tensor:
    """:func:`subpixel_conv` for (N, C_in, H, W) inputs, the 2-D layer's functional form.

    Example:
        >>> x = torch.randn(1, 4, 8, 8)
        >>> subpixel_conv2d(x, torch.randn(3 * 4, 4, 3, 3), None, 2).shape
        torch.Size([1, 3, 16, 16])
    """
    return subpixel_conv(x, weight, bias, scale_factor, padding_mode, blur_output)
