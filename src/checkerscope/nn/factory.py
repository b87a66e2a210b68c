"""String-to-layer factories, so that experiment configs can name their resamplers.

Every upsampler maps a spatial size N to ``scale_factor * N``; every downsampler maps N to
``N / stride`` for N divisible by the stride (``ceil(N / stride)`` in general for the odd
kernels chosen by default).
"""

from __future__ import annotations

import math
from typing import Any

from torch import nn

from checkerscope import checks as v
from checkerscope.functional.resize_conv import MODE_ALIASES
from checkerscope.nn.blurpool import AntiAliasedConv1d, AntiAliasedConv2d, BlurPool1d, BlurPool2d
from checkerscope.nn.resize_conv import ResizeConv1d, ResizeConv2d, ResizeConv3d
from checkerscope.nn.subpixel import SubPixelConv1d, SubPixelConv2d, SubPixelConv3d

UPSAMPLERS = (
    "deconv",
    "resize_conv",
    "bilinear_resize_conv",
    "subpixel",
    "subpixel_icnr",
    "subpixel_blur",
)
DOWNSAMPLERS = ("strided_conv", "antialiased", "blurpool")

_DIMS = (1, 2, 3)
_UP_DIMS = {kind: _DIMS for kind in UPSAMPLERS}
_DOWN_DIMS = {"strided_conv": _DIMS, "antialiased": (1, 2), "blurpool": (1, 2)}

_CONV_T = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}
_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
_RESIZE_CONV = {1: ResizeConv1d, 2: ResizeConv2d, 3: ResizeConv3d}
_SUBPIXEL = {1: SubPixelConv1d, 2: SubPixelConv2d, 3: SubPixelConv3d}
_RESIZE_MODE = {"resize_conv": "nearest", "bilinear_resize_conv": "bilinear"}
_ANTIALIASED = {1: AntiAliasedConv1d, 2: AntiAliasedConv2d}
_BLURPOOL = {1: BlurPool1d, 2: BlurPool2d}

# Arguments each kind decides itself; passing them would break its size or its meaning.
_UP_FIXED = {
    "deconv": ("stride", "padding", "output_padding", "dilation"),
    "resize_conv": ("mode",),
    "bilinear_resize_conv": ("mode",),
    "subpixel": ("init", "blur"),
    "subpixel_icnr": ("init", "blur"),
    "subpixel_blur": ("init", "blur"),
}
_DOWN_FIXED = {
    "strided_conv": ("padding", "dilation"),
    "antialiased": ("padding",),
    "blurpool": ("channels",),
}


def _check_kind(role: str, kind: str, dims: int, kinds: tuple[str, ...], allowed: dict) -> None:
    v.one_of("kind", kind, kinds)
    v.one_of("dims", v.positive_int("dims", dims), _DIMS)
    if dims not in allowed[kind]:
        supported = ", ".join(str(d) for d in allowed[kind])
        raise ValueError(
            f"there is no {role} kind={kind!r} with dims={dims}: it exists for dims={supported}"
        )


def _check_not_fixed(kind: str, kw: dict[str, Any], fixed: dict[str, tuple[str, ...]]) -> None:
    taken = sorted(set(kw) & set(fixed[kind]))
    if taken:
        raise ValueError(
            f"kind={kind!r} sets {', '.join(fixed[kind])} itself, so they cannot be passed; "
            f"got {', '.join(f'{k}={kw[k]!r}' for k in taken)}"
        )


def deconv_padding(kernel_size: int, stride: int) -> tuple[int, int]:
    """(padding, output_padding) for which ``ConvTransposeNd(k, stride)`` maps N to stride*N.

    The transposed-conv size ``(N-1)*s - 2p + k + op`` equals ``s*N`` when ``2p - op = k - s``;
    take ``p = max(0, ceil((k - s) / 2))`` and ``op = 2p - (k - s)``, which is 0 or 1 (or
    ``s - k`` for k < s). k=4, s=2 gives (1, 0); k=3, s=2 gives (1, 1).
    """
    padding = max(0, math.ceil((kernel_size - stride) / 2))
    output_padding = 2 * padding - (kernel_size - stride)
    if output_padding >= stride:
        raise ValueError(
            f"a deconv with kernel_size={kernel_size} and scale_factor={stride} cannot map N to "
            f"{stride}*N (it would need output_padding={output_padding} < {stride}); "
            f"use an odd kernel_size"
        )
    return padding, output_padding


def upsampler(
    kind: str,
    in_channels: int,
    out_channels: int,
    scale_factor: int = 2,
    dims: int = 2,
    **kw: Any,
) -> nn.Module:
    """A layer that maps (N, C_in, *S) to (N, C_out, *(scale_factor * S)), chosen by name.

    Kinds: "deconv" (``ConvTransposeNd``, kernel ``2*s`` unless ``kernel_size`` is given, padding
    and output_padding from :func:`deconv_padding`), "resize_conv" (nearest) and
    "bilinear_resize_conv" (``ResizeConvNd``), "subpixel" (plain init), "subpixel_icnr" (ICNR),
    "subpixel_blur" (plain init, zero-order-hold blur; Sugawara et al. 2019), each for dims
    1, 2 and 3. Other keyword arguments go to the layer; a resize-convolution's ``mode`` may
    be passed where it is the kind's own ("nearest" or "nearest-exact" for "resize_conv").

    Example:
        >>> import torch
        >>> upsampler("resize_conv", 64, 32)(torch.randn(1, 64, 8, 8)).shape
        torch.Size([1, 32, 16, 16])
    """
    _check_kind("upsampler", kind, dims, UPSAMPLERS, _UP_DIMS)
    if kind in _RESIZE_MODE and "mode" in kw:
        mode = kw["mode"]
        if isinstance(mode, str) and MODE_ALIASES.get(mode, mode) == _RESIZE_MODE[kind]:
            del kw["mode"]  # the kind's own mode, under any of its names
    _check_not_fixed(kind, kw, _UP_FIXED)
    v.positive_int("in_channels", in_channels)
    v.positive_int("out_channels", out_channels)
    s = v.scale_factor("scale_factor", scale_factor)
    if kind == "deconv":
        kernel_size = v.positive_int("kernel_size", kw.pop("kernel_size", 2 * s))
        padding, output_padding = deconv_padding(kernel_size, s)
        return _CONV_T[dims](
            in_channels, out_channels, kernel_size, s, padding, output_padding, **kw
        )
    if kind in _RESIZE_MODE:
        mode = _RESIZE_MODE[kind]
        return _RESIZE_CONV[dims](in_channels, out_channels, scale_factor=s, mode=mode, **kw)
    init = "icnr" if kind == "subpixel_icnr" else "default"
    return _SUBPIXEL[dims](
        in_channels, out_channels, scale_factor=s, init=init, blur=kind == "subpixel_blur", **kw
    )


def downsampler(
    kind: str,
    in_channels: int,
    out_channels: int,
    stride: int = 2,
    dims: int = 2,
    **kw: Any,
) -> nn.Module:
    """A layer that maps (N, C_in, *S) to (N, C_out, *(S / stride)), chosen by name.

    Kinds: "strided_conv" (``ConvNd``, kernel 3 unless ``kernel_size`` is given, padding
    ``(k-1)//2``; k=3 or k=4 with stride 2 are the usual ones), "antialiased"
    (:class:`AntiAliasedConv1d`/``2d``), "blurpool" (:class:`BlurPool1d`/``2d``, which keeps
    the channels, so ``in_channels`` must equal ``out_channels``). "antialiased" and
    "blurpool" exist for dims 1 and 2. For S divisible by the stride the size is exactly
    S / stride. Other keyword arguments go to the layer.

    Example:
        >>> import torch
        >>> downsampler("antialiased", 3, 16)(torch.randn(1, 3, 32, 32)).shape
        torch.Size([1, 16, 16, 16])
    """
    _check_kind("downsampler", kind, dims, DOWNSAMPLERS, _DOWN_DIMS)
    _check_not_fixed(kind, kw, _DOWN_FIXED)
    v.positive_int("in_channels", in_channels)
    v.positive_int("out_channels", out_channels)
    s = v.positive_int("stride", stride)
    if kind == "strided_conv":
        kernel_size = v.positive_int("kernel_size", kw.pop("kernel_size", 3))
        padding = (kernel_size - 1) // 2
        # Size N/s for N divisible by s needs k - s <= 2p < k: only even k at stride 1 fails.
        if 2 * padding < kernel_size - s:
            raise ValueError(
                f"a strided_conv with kernel_size={kernel_size} and stride={s} cannot map N "
                f"to N/{s} with symmetric padding; use an odd kernel_size"
            )
        return _CONV[dims](in_channels, out_channels, kernel_size, s, padding, **kw)
    if kind == "antialiased":
        return _ANTIALIASED[dims](in_channels, out_channels, stride=s, **kw)
    if in_channels != out_channels:
        raise ValueError(
            f"blurpool keeps the channel count, so in_channels must equal out_channels, "
            f"got in_channels={in_channels} and out_channels={out_channels}"
        )
    return _BLURPOOL[dims](in_channels, stride=s, **kw)
