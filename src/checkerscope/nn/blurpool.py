"""Anti-aliased downsampling: blur-pool and the anti-aliased strided convolution.

Zhang (2019), "Making Convolutional Networks Shift-Invariant Again": low-pass with a small
binomial filter, then subsample. A strided convolution becomes a stride-1 convolution
followed by blur-pool ("ConvBlurPool"), which also keeps the checkerboard out of the gradient
that a strided convolution sends back (Odena et al. 2016).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from checkerscope import checks as v
from checkerscope.functional import blurpool as B
from checkerscope.functional.padding import pad

CONV_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")

_CONV: dict[int, type[nn.Module]] = {1: nn.Conv1d, 2: nn.Conv2d}
_CONV_FN = {1: F.conv1d, 2: F.conv2d}


class _BlurPoolNd(nn.Module):
    dims: int
    kernel: torch.Tensor

    def __init__(
        self,
        channels: int,
        stride: int = 2,
        filter_size: int = 3,
        padding_mode: str = "reflect",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.channels = v.positive_int("channels", channels)
        self.stride = v.positive_int("stride", stride)
        self.filter_size = v.positive_int("filter_size", filter_size)
        self.padding_mode = v.one_of("padding_mode", padding_mode, B.PADDING_MODES)
        taps = B.binomial_taps(filter_size, dtype=dtype, device=device)
        self.register_buffer("kernel", B.separable_kernel(taps, self.dims), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v.check_input("input", x, dims=self.dims, channels=self.channels)
        B.check_padding_fits(x, tuple(self.kernel.shape), self.padding_mode)
        return B.blur(x, self.kernel, self.stride, self.padding_mode)

    def extra_repr(self) -> str:
        return (
            f"{self.channels}, stride={self.stride}, filter_size={self.filter_size}, "
            f"padding_mode={self.padding_mode!r}"
        )


class BlurPool1d(_BlurPoolNd):
    """Blur-pool (N, C, L) to (N, C, ceil(L / stride)): binomial low-pass, then subsample.

    Example:
        >>> BlurPool1d(16)(torch.randn(2, 16, 100)).shape
        torch.Size([2, 16, 50])
    """

    dims = 1


class BlurPool2d(_BlurPoolNd):
    """Blur-pool (N, C, H, W) to (N, C, ceil(H / s), ceil(W / s)); Zhang (2019).

    Each channel is filtered by the outer product of the binomial taps ``C(n-1, i) / 2**(n-1)``
    (n = ``filter_size``) after padding ``(n-1)//2`` before and the rest after (reflect by
    default, as in the paper), then sampled at 0, s, 2s, ... The filter is a non-persistent
    buffer, so the state dict is empty.

    Example:
        >>> BlurPool2d(64)(torch.randn(1, 64, 32, 32)).shape
        torch.Size([1, 64, 16, 16])
    """

    dims = 2


def _padding(value: object, dims: int) -> str | tuple[int, ...]:
    if isinstance(value, str):
        if value in ("same", "valid"):
            return value
        raise ValueError(f"padding must be 'same', 'valid' or non-negative integers, got {value!r}")
    return v.ntuple("padding", value, dims, v.nonnegative_int)


class _AntiAliasedConvNd(nn.Module):
    dims: int

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, ...] = 3,
        stride: int = 2,
        padding: str | int | tuple[int, ...] = "same",
        dilation: int | tuple[int, ...] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        filter_size: int = 3,
        blur_padding_mode: str = "reflect",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.in_channels = v.positive_int("in_channels", in_channels)
        self.out_channels = v.positive_int("out_channels", out_channels)
        self.kernel_size = v.ntuple("kernel_size", kernel_size, self.dims)
        self.stride = v.positive_int("stride", stride)
        self.padding = _padding(padding, self.dims)
        self.dilation = v.ntuple("dilation", dilation, self.dims)
        self.groups = v.positive_int("groups", groups)
        if in_channels % groups or out_channels % groups:
            raise ValueError(
                f"groups must divide in_channels={in_channels} and "
                f"out_channels={out_channels}, got groups={groups}"
            )
        if not isinstance(bias, bool):
            raise ValueError(f"bias must be True or False, got {bias!r}")
        self.padding_mode = v.one_of("padding_mode", padding_mode, CONV_PADDING_MODES)
        v.one_of("blur_padding_mode", blur_padding_mode, B.PADDING_MODES)
        self.conv = _CONV[self.dims](
            in_channels,
            out_channels,
            self.kernel_size,
            stride=1,
            padding=self.padding,
            dilation=self.dilation,
            groups=groups,
            bias=bias,
            padding_mode=padding_mode,
            device=device,
            dtype=dtype,
        )
        self.blur = _BLUR[self.dims](
            out_channels, stride, filter_size, blur_padding_mode, device=device, dtype=dtype
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v.check_input("input", x, dims=self.dims, channels=self.in_channels)
        if self.padding == "same":
            span = tuple(
                d * (k - 1) + 1 for k, d in zip(self.kernel_size, self.dilation, strict=True)
            )
            B.check_padding_fits(x, span, self.padding_mode)
        return self.blur(self._convolve(x))

    def _convolve(self, x: torch.Tensor) -> torch.Tensor:
        """``self.conv(x)`` with its padding spelled out: non-zero modes by :func:`pad`
        (whose gradient is deterministic on CUDA, unlike torch's reflect padding), zeros as
        explicit amounts (ONNX runtimes reject "same" padding with dilation)."""
        conv = self.conv
        pads = []
        for k, d, p in zip(self.kernel_size, self.dilation, self._padding_values(), strict=True):
            total = d * (k - 1) if p is None else 2 * p
            pads.append((total // 2, total - total // 2))
        padding: tuple[int, ...] = (0,) * self.dims
        if self.padding_mode == "zeros" and all(a == b for a, b in pads):
            padding = tuple(a for a, _ in pads)
        else:
            x = pad(x, pads, self.padding_mode)
        return _CONV_FN[self.dims](
            x, conv.weight, conv.bias, 1, padding, conv.dilation, conv.groups
        )

    def _padding_values(self) -> tuple[int | None, ...]:
        """Per axis: the padding each side, or None for "same"."""
        if self.padding == "same":
            return (None,) * self.dims
        if self.padding == "valid":
            return (0,) * self.dims
        return tuple(self.padding)

    def extra_repr(self) -> str:
        return f"stride={self.stride}"


class AntiAliasedConv1d(_AntiAliasedConvNd):
    """Anti-aliased strided conv (N, C_in, L) -> (N, C_out, ceil(L / stride)) with "same" padding.

    Example:
        >>> AntiAliasedConv1d(16, 32)(torch.randn(2, 16, 100)).shape
        torch.Size([2, 32, 50])
    """

    dims = 1


class AntiAliasedConv2d(_AntiAliasedConvNd):
    """Anti-aliased strided conv: ``nn.Conv2d`` at stride 1, then :class:`BlurPool2d`.

    Zhang's (2019) ConvBlurPool, a drop-in for ``nn.Conv2d(C_in, C_out, k, stride=s)`` in
    discriminators and encoders. The convolution is at ``.conv`` (its state dict keys are
    ``conv.weight``, ``conv.bias``, those of ``nn.Conv2d``); the blur at ``.blur`` holds no
    state. With the default ``padding="same"``, (N, C_in, H, W) -> (N, C_out, ceil(H/s),
    ceil(W/s)). The layer is linear: the paper puts the nonlinearity between conv and blur,
    which is ``nn.Sequential(conv, act, BlurPool2d(...))``.

    Example:
        >>> AntiAliasedConv2d(3, 64, 3, stride=2)(torch.randn(1, 3, 32, 32)).shape
        torch.Size([1, 64, 16, 16])
    """

    dims = 2


_BLUR: dict[int, type[_BlurPoolNd]] = {1: BlurPool1d, 2: BlurPool2d}
