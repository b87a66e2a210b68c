"""Sub-pixel convolution with ICNR initialization and an optional zero-order-hold blur.

Shi et al. (2016) for the layer; Aitken et al. (2017), "Checkerboard artifact free sub-pixel
convolution", for ICNR; Sugawara et al. (2019), "Super-resolution using convolutional neural
networks without any checkerboard artifacts", for the fixed blur after the shuffle.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn.utils import parametrize

from checkerscope import checks as v
from checkerscope.functional import subpixel as S
from checkerscope.functional.blurpool import blur, box_taps, check_padding_fits, separable_kernel

INITS = ("icnr", "default")

_CONV: dict[int, type[nn.Module]] = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}

Init = str | Callable[[torch.Tensor], Any]


def _check_init(init: Any) -> Init:
    if callable(init):
        return init
    return v.one_of("init", init, INITS)


def _init_name(init: Init) -> str:
    if isinstance(init, str):
        return repr(init)
    return getattr(init, "__name__", None) or repr(init)


def _conv_default_(weight: torch.Tensor) -> None:
    nn.init.kaiming_uniform_(weight, a=math.sqrt(5))


class SubPixelConvNd(nn.Module):
    """The base class of :class:`SubPixelConv1d`, ``2d`` and ``3d``: a convolution to
    ``C_out * s**d`` channels, then a pixel shuffle; ``dims`` spatial axes.

    Use it to recognise any sub-pixel layer; build one of the subclasses.

    Example:
        >>> isinstance(SubPixelConv3d(4, 2), SubPixelConvNd), SubPixelConv3d.dims
        (True, 3)
    """

    dims: int
    blur_kernel: torch.Tensor | None

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, ...] = 3,
        scale_factor: int = 2,
        init: Init = "icnr",
        blur: bool = False,
        padding_mode: str = "zeros",
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.in_channels = v.positive_int("in_channels", in_channels)
        self.out_channels = v.positive_int("out_channels", out_channels)
        self.kernel_size = v.ntuple("kernel_size", kernel_size, self.dims)
        self.scale_factor = v.scale_factor("scale_factor", scale_factor)
        self.init = _check_init(init)
        if not isinstance(blur, bool):
            raise ValueError(f"blur must be True or False, got {blur!r}")
        self.blur = blur
        self.padding_mode = v.one_of("padding_mode", padding_mode, S.PADDING_MODES)
        if not isinstance(bias, bool):
            raise ValueError(f"bias must be True or False, got {bias!r}")
        self.conv = _CONV[self.dims](
            in_channels,
            out_channels * self.scale_factor**self.dims,
            self.kernel_size,
            padding="same",
            padding_mode=padding_mode,
            bias=bias,
            device=device,
            dtype=dtype,
        )
        taps = box_taps(self.scale_factor, dtype=dtype, device=device)
        kernel = separable_kernel(taps, self.dims)
        self.register_buffer("blur_kernel", kernel if blur else None, persistent=False)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Draw new weights by ``init``; ICNR draws its sub-kernel by ``nn.ConvNd``'s
        distribution, or by ``init`` itself when it is a callable.

        Also under ``torch.nn.utils.parametrizations`` (``weight_norm``, ``spectral_norm``):
        the new weight is assigned through the parametrization, so that it reaches the
        parametrization's original tensors (writing into ``conv.weight`` would not).
        """
        conv = self.conv
        weight = torch.empty_like(conv.weight)
        if self.init == "default":
            _conv_default_(weight)
            if conv.bias is not None:
                bound = 1 / math.sqrt(weight[0].numel())
                nn.init.uniform_(conv.bias, -bound, bound)
        else:
            base = _conv_default_ if self.init == "icnr" else self.init
            S.icnr_(weight, self.scale_factor, conv.bias, init=base)
        if parametrize.is_parametrized(conv, "weight"):
            conv.weight = weight
        else:
            conv.weight.copy_(weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v.check_input("input", x, dims=self.dims, channels=self.in_channels)
        check_padding_fits(x, self.kernel_size, self.padding_mode)
        conv = self.conv
        y = S.subpixel_conv(x, conv.weight, conv.bias, self.scale_factor, self.padding_mode)
        if self.blur_kernel is not None:
            y = blur(y, self.blur_kernel, 1, "replicate")
        return y

    def extra_repr(self) -> str:
        s = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"scale_factor={self.scale_factor}, init={_init_name(self.init)}, "
            f"blur={self.blur}, padding_mode={self.padding_mode!r}"
        )
        return s if self.conv.bias is not None else s + ", bias=False"


class SubPixelConv1d(SubPixelConvNd):
    """Upsample (N, C_in, L) to (N, C_out, s*L): conv to C_out*s channels, then shuffle.

    As :class:`SubPixelConv2d` along one axis (audio, sequences). Example:
        >>> SubPixelConv1d(16, 8, scale_factor=4)(torch.randn(2, 16, 100)).shape
        torch.Size([2, 8, 400])
    """

    dims = 1


class SubPixelConv2d(SubPixelConvNd):
    """Upsample (N, C_in, H, W) to (N, C_out, s*H, s*W): conv to C_out*s**2, pixel shuffle.

    The convolution is a plain ``nn.Conv2d`` at ``.conv`` (weight (C_out*s**2, C_in, k, k),
    ``padding="same"``), so the state dict holds ``conv.weight`` and ``conv.bias`` only.

    ``init="icnr"`` (default) copies one ``nn.Conv2d``-initialized sub-kernel and bias into
    all s**2 phases: at initialization the layer equals ``F.interpolate(conv2d(x, w0),
    scale_factor=s, mode="nearest")`` exactly. ``init`` may also be a callable that fills a
    tensor in place (``torch.nn.init.kaiming_normal_``, say): ICNR then draws its sub-kernel
    with it. ``init="default"`` draws all phases independently, as ``nn.Conv2d`` does, and
    shows checkerboards at step 0.

    ``blur=True`` averages every s x s window after the shuffle (a fixed, non-persistent
    buffer; replicate padding; for even s the output moves half a high-resolution sample
    later): a constant input then gives a constant output whatever the weights.

    Example:
        >>> SubPixelConv2d(64, 32)(torch.randn(1, 64, 16, 16)).shape
        torch.Size([1, 32, 32, 32])
    """

    dims = 2


class SubPixelConv3d(SubPixelConvNd):
    """Upsample (N, C_in, D, H, W) to (N, C_out, s*D, s*H, s*W) for volumes (medical images).

    As :class:`SubPixelConv2d` with s**3 phases; ICNR copies one sub-kernel into all of them.

    Example:
        >>> SubPixelConv3d(8, 4)(torch.randn(1, 8, 6, 6, 6)).shape
        torch.Size([1, 4, 12, 12, 12])
    """

    dims = 3
