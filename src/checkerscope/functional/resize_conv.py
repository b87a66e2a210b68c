"""Resize-convolution: interpolate by an integer factor, pad to 'same' size, convolve.

Odena, Dumoulin & Olah (2016), "Deconvolution and Checkerboard Artifacts": separating the
upsampling from the convolution gives a weight-tied linear operator that is biased against
checkerboard artifacts. ``impl="reference"`` below is the definition; the fused path computes
the same operator without materializing the upsampled tensor.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

MODES = ("nearest", "bilinear")
PADDING_MODES = ("reflect", "replicate", "zeros")
IMPLS = ("auto", "fused", "reference")

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_LINEAR_MODE = {1: "linear", 2: "bilinear", 3: "trilinear"}


def same_padding(kernel_size: int) -> tuple[int, int]:
    """(left, right) padding that keeps the length, as ``padding="same"`` in torch."""
    left = (kernel_size - 1) // 2
    return left, kernel_size - 1 - left


def interpolate(x: torch.Tensor, scale_factor: int, mode: str) -> torch.Tensor:
    """Upsample the spatial axes of (N, C, *spatial) ``x`` by the integer ``scale_factor``.

    ``mode="bilinear"`` means linear interpolation along every axis (linear, bilinear or
    trilinear by rank) with ``align_corners=False``.
    """
    dims = x.dim() - 2
    if mode == "nearest":
        return F.interpolate(x, scale_factor=float(scale_factor), mode="nearest")
    return F.interpolate(
        x, scale_factor=float(scale_factor), mode=_LINEAR_MODE[dims], align_corners=False
    )


def pad_same(x: torch.Tensor, kernel_size: tuple[int, ...], padding_mode: str) -> torch.Tensor:
    """Pad the spatial axes of ``x`` so that a stride-1 convolution keeps their size."""
    pads: list[int] = []
    for k in reversed(kernel_size):  # F.pad takes the last axis first
        pads.extend(same_padding(k))
    if not any(pads):
        return x
    if padding_mode == "zeros":
        return F.pad(x, pads)
    return F.pad(x, pads, mode=padding_mode)


def resize_conv_reference(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    scale_factor: int,
    mode: str = "nearest",
    padding_mode: str = "reflect",
) -> torch.Tensor:
    """Resize-convolution by its definition: interpolate, pad, convolve.

    Shapes: ``x`` (N, C_in, *S), ``weight`` (C_out, C_in, *K), ``bias`` (C_out,) or None;
    returns (N, C_out, *(s * S)).

    Example:
        >>> x = torch.randn(1, 3, 8, 8)
        >>> resize_conv_reference(x, torch.randn(4, 3, 3, 3), None, 2).shape
        torch.Size([1, 4, 16, 16])
    """
    dims = x.dim() - 2
    up = interpolate(x, scale_factor, mode)
    up = pad_same(up, tuple(weight.shape[2:]), padding_mode)
    return _CONV[dims](up, weight, bias)


def resize_conv(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    scale_factor: int,
    mode: str = "nearest",
    padding_mode: str = "reflect",
    impl: str = "auto",
) -> torch.Tensor:
    """Resize-convolution, by ``impl``: "reference", "fused", or "auto" (fused when supported).

    Shapes as :func:`resize_conv_reference`.
    """
    # TODO(fused): replaced by the fused polyphase path.
    return resize_conv_reference(x, weight, bias, scale_factor, mode, padding_mode)
