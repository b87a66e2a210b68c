"""Which layers of a model the audit looks at: those that upsample or stride, and so can paint a
periodic pattern by construction (:func:`layer_kind`, :func:`find_layers`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from checkerscope.analysis import layers as L
from checkerscope.auditing.subpixel import JoinedSubPixel
from checkerscope.conversion import BlurredAvgPool, ResizeConvAdapter
from checkerscope.nn import (
    AntiAliasedConv1d,
    AntiAliasedConv2d,
    BlurPool1d,
    BlurPool2d,
    MaxBlurPool1d,
    MaxBlurPool2d,
    SubPixelConvNd,
)

__all__ = [
    "ANTIALIASED_CONVS",
    "BLURPOOLS",
    "MAXBLURPOOLS",
    "SUBPIXELS",
    "find_layers",
    "layer_kind",
    "per_axis",
]

ANTIALIASED_CONVS = (AntiAliasedConv1d, AntiAliasedConv2d)
BLURPOOLS = (BlurPool1d, BlurPool2d)
MAXBLURPOOLS = (MaxBlurPool1d, MaxBlurPool2d)
SUBPIXELS = (SubPixelConvNd, JoinedSubPixel)


def per_axis(value: Any) -> tuple[int, ...]:
    """A layer attribute given as one number or one per axis (``stride``...), as a tuple.

    Example:
        >>> per_axis(2), per_axis((2, 1))
        ((2,), (2, 1))
    """
    return tuple(value) if isinstance(value, Sequence) else (value,)


def layer_kind(m: nn.Module) -> str | None:
    """The audit's name for an upsampling or strided layer, or None for any other module.

    Example:
        >>> layer_kind(nn.ConvTranspose2d(4, 4, 4, 2, 1)), layer_kind(nn.Conv2d(4, 4, 3))
        ('conv_transpose', None)
    """
    if isinstance(m, (ResizeConvAdapter, *L.RESIZE_CONVS)):
        return "resize_conv"
    if isinstance(m, SUBPIXELS):
        return "subpixel"
    if isinstance(m, ANTIALIASED_CONVS):
        return "antialiased_conv"
    if isinstance(m, (*BLURPOOLS, *MAXBLURPOOLS, BlurredAvgPool)):
        return "blurpool" if any(s > 1 for s in per_axis(m.stride)) else None
    if isinstance(m, nn.Upsample):
        return f"upsample_{m.mode}"
    if isinstance(m, nn.PixelShuffle):
        return "pixel_shuffle" if m.upscale_factor > 1 else None
    strided = any(s > 1 for s in per_axis(getattr(m, "stride", 1) or 1))
    if L.is_transposed_conv(m):
        return "conv_transpose" if strided else None
    if L.is_conv(m):
        return "strided_conv" if strided else None
    if L.is_pool(m):
        return "pool" if strided else None
    return None


def find_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The upsampling and strided layers of ``model`` (see :func:`layer_kind`), outermost only.

    Names are those of ``model.named_modules()``; a recognised layer's children (the ``conv``
    inside a :class:`~checkerscope.nn.SubPixelConvNd`) are not listed again, and a layer
    shared by several parents is listed once, under its first name.

    Example:
        >>> up = nn.Upsample(scale_factor=2)
        >>> g = nn.Sequential(nn.ConvTranspose2d(8, 4, 4, 2, 1), nn.ReLU(), up)
        >>> [name for name, _ in find_layers(g)]
        ['0', '2']
    """
    found: list[tuple[str, nn.Module]] = []
    seen: set[int] = set()

    def visit(name: str, m: nn.Module) -> None:
        if id(m) in seen:
            return
        seen.add(id(m))
        if layer_kind(m) is not None:
            found.append((name, m))
            return
        for child_name, child in m.named_children():
            visit(f"{name}.{child_name}" if name else child_name, child)

    visit("", model)
    return found
