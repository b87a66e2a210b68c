"""MaxBlurPool: the anti-aliased max pool of Zhang (2019), a drop-in for ``nn.MaxPool1d/2d``.

"Making Convolutional Networks Shift-Invariant Again": ``nn.MaxPool2d(k, stride=s)`` becomes a
max pool at stride 1 followed by blur-pool (binomial low-pass, then every s-th sample), so the
subsampling no longer aliases. The output size is the max pool's for every input size and
every padding, dilation and ceil mode (see :mod:`checkerscope.functional.maxblurpool`).
"""

from __future__ import annotations

import torch
from torch import nn

from checkerscope import checks as v
from checkerscope.functional import blurpool as B
from checkerscope.functional import maxblurpool as M


class _MaxBlurPoolNd(nn.Module):
    dims: int
    kernel: torch.Tensor

    def __init__(
        self,
        channels: int | None,
        kernel_size: int | tuple[int, ...] = 2,
        stride: int = 2,
        padding: int | tuple[int, ...] = 0,
        dilation: int | tuple[int, ...] = 1,
        ceil_mode: bool = False,
        filter_size: int = 3,
        padding_mode: str = "reflect",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.channels = None if channels is None else v.positive_int("channels", channels)
        self.kernel_size = v.ntuple("kernel_size", kernel_size, self.dims)
        self.stride = v.positive_int("stride", stride)
        self.padding = v.ntuple("padding", padding, self.dims, v.nonnegative_int)
        self.dilation = v.ntuple("dilation", dilation, self.dims)
        for k, p in zip(self.kernel_size, self.padding, strict=True):
            if 2 * p > k:
                raise ValueError(
                    f"padding must be at most half of kernel_size, as in nn.MaxPool{self.dims}d, "
                    f"got padding={padding!r} with kernel_size={kernel_size!r}"
                )
        if not isinstance(ceil_mode, bool):
            raise ValueError(f"ceil_mode must be True or False, got {ceil_mode!r}")
        self.ceil_mode = ceil_mode
        self.filter_size = v.positive_int("filter_size", filter_size)
        self.padding_mode = v.one_of("padding_mode", padding_mode, B.PADDING_MODES)
        taps = B.binomial_taps(filter_size, dtype=dtype, device=device)
        self.register_buffer("kernel", B.separable_kernel(taps, self.dims), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v.check_input("input", x, dims=self.dims, channels=self.channels)
        k, p, d = self.kernel_size, self.padding, self.dilation
        tails = M.ceil_tails(x, k, self.stride, p, d, self.ceil_mode)
        M.check_sizes(x, k, p, d, tails, self.filter_size, self.padding_mode)
        dense = M.dense_max(x, k, p, d, tails)
        return B.blur(dense, self.kernel, self.stride, self.padding_mode)

    def extra_repr(self) -> str:
        channels = "" if self.channels is None else f"{self.channels}, "
        return (
            f"{channels}kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, dilation={self.dilation}, ceil_mode={self.ceil_mode}, "
            f"filter_size={self.filter_size}, padding_mode={self.padding_mode!r}"
        )


class MaxBlurPool1d(_MaxBlurPoolNd):
    """Anti-aliased max pool (N, C, L) -> (N, C, L_out), L_out as ``nn.MaxPool1d``'s.

    Example:
        >>> MaxBlurPool1d(16)(torch.randn(2, 16, 101)).shape
        torch.Size([2, 16, 50])
    """

    dims = 1


class MaxBlurPool2d(_MaxBlurPoolNd):
    """Anti-aliased max pool (Zhang 2019): ``nn.MaxPool2d`` at stride 1, then :class:`BlurPool2d`.

    A drop-in for ``nn.MaxPool2d(kernel_size, stride, padding, dilation, ceil_mode=...)`` with
    the same output size for every input size. The binomial filter (``filter_size`` taps per
    axis) is a non-persistent buffer, so the state dict is empty. ``channels`` checks the
    input's channel count; ``None`` accepts any (a pool does not know its channels, so
    :func:`checkerscope.convert` builds them so).

    Example:
        >>> MaxBlurPool2d(64)(torch.randn(1, 64, 32, 32)).shape
        torch.Size([1, 64, 16, 16])
        >>> MaxBlurPool2d(None, 3, stride=2, padding=1)(torch.randn(1, 3, 7, 7)).shape
        torch.Size([1, 3, 4, 4])
    """

    dims = 2
