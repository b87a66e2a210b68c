"""Fixed low-pass filters in closed form, and blur-pool: low-pass, then subsample.

Zhang (2019), "Making Convolutional Networks Shift-Invariant Again": a strided layer
aliases; blurring with a small binomial filter before taking every ``stride``-th sample
removes most of the aliasing (and the checkerboard it writes into the gradient). The
filters here are written from their closed forms:

* binomial, size n: taps ``C(n-1, i) / 2**(n-1)`` (the (n-1)-fold convolution of [1/2, 1/2]);
* box, size n: taps ``1/n`` (the zero-order hold of Sugawara et al. 2019, normalized).

A d-dimensional filter is the outer product of its 1-D taps, so it sums to 1 and a
constant input stays constant wherever the padding does not reach zeros.

Padding and alignment: a filter of size n pads ``(n-1)//2`` before and ``n-1-(n-1)//2``
after each axis (as ``padding="same"`` in torch), then the result is sampled at
0, stride, 2*stride, ...; so a spatial size L becomes ``ceil(L / stride)`` and, for odd n,
output i is centred on input ``stride * i``. Even n puts the centre half a sample later.
The padding is :func:`checkerscope.functional.padding.pad`, whose gradient is deterministic
on CUDA (torch's reflect padding's is not).
"""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F

from checkerscope.functional.padding import pad

PADDING_MODES = ("reflect", "replicate", "zeros")

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def binomial_taps(
    size: int, *, dtype: torch.dtype | None = None, device: torch.device | str | None = None
) -> torch.Tensor:
    """1-D binomial low-pass taps ``C(size-1, i) / 2**(size-1)``, shape (size,).

    Example:
        >>> binomial_taps(3)
        tensor([0.2500, 0.5000, 0.2500])
    """
    taps = [math.comb(size - 1, i) for i in range(size)]
    exact = torch.tensor(taps, dtype=torch.float64, device=device).div(2 ** (size - 1))
    return exact.to(dtype or torch.get_default_dtype())


def box_taps(
    size: int, *, dtype: torch.dtype | None = None, device: torch.device | str | None = None
) -> torch.Tensor:
    """1-D box (zero-order hold) taps ``1 / size``, shape (size,).

    Example:
        >>> box_taps(2)
        tensor([0.5000, 0.5000])
    """
    return torch.full((size,), 1.0 / size, dtype=dtype, device=device)


def separable_kernel(taps: torch.Tensor, dims: int) -> torch.Tensor:
    """Outer product of 1-D ``taps`` with itself over ``dims`` axes, shape (n,) * dims.

    Example:
        >>> separable_kernel(box_taps(2), 2)
        tensor([[0.2500, 0.2500],
                [0.2500, 0.2500]])
    """
    kernel = taps
    for _ in range(dims - 1):
        kernel = kernel.unsqueeze(-1) * taps
    return kernel


def pad_for_filter(
    x: torch.Tensor, kernel_size: tuple[int, ...], padding_mode: str
) -> torch.Tensor:
    """Pad the spatial axes of (N, C, *S) ``x`` by ``(n-1)//2`` before, the rest after."""
    return pad(x, [((n - 1) // 2, n - 1 - (n - 1) // 2) for n in kernel_size], padding_mode)


def check_padding_fits(
    x: torch.Tensor, kernel_size: tuple[int, ...], padding_mode: str, name: str = "input"
) -> None:
    """Raise a ValueError where reflect padding would be wider than the input allows."""
    if padding_mode != "reflect":
        return
    for axis, (length, n) in enumerate(zip(x.shape[2:], kernel_size, strict=True)):
        widest = n - 1 - (n - 1) // 2
        if widest >= length:
            raise ValueError(
                f"{name} of shape {tuple(x.shape)} is too small for padding_mode='reflect': "
                f"spatial axis {axis} has size {length}, but a filter of size {n} pads it by "
                f"{widest}, which must be smaller; use padding_mode='replicate' or 'zeros'"
            )


def blur(
    x: torch.Tensor, kernel: torch.Tensor, stride: int = 1, padding_mode: str = "reflect"
) -> torch.Tensor:
    """Filter every channel of (N, C, *S) ``x`` with ``kernel`` (shape K), then subsample.

    Depthwise: the same kernel for each channel, no mixing. Returns (N, C, *ceil(S / stride)).

    Example:
        >>> x = torch.randn(1, 4, 9, 9)
        >>> blur(x, separable_kernel(binomial_taps(3), 2), stride=2).shape
        torch.Size([1, 4, 5, 5])
    """
    dims = kernel.dim()
    # The channel count is fixed by the layer, never a dynamic size: as a Python int it keeps
    # the depthwise kernel's shape known to torch.jit.trace and the ONNX exporters.
    channels = int(x.shape[1])
    weight = kernel.to(dtype=x.dtype, device=x.device).expand(channels, 1, *kernel.shape)
    padded = pad_for_filter(x, tuple(kernel.shape), padding_mode)
    return _CONV[dims](padded, weight, stride=stride, groups=channels)


def blur_reference(
    x: torch.Tensor, kernel: torch.Tensor, stride: int = 1, padding_mode: str = "reflect"
) -> torch.Tensor:
    """:func:`blur` by its definition: a weighted sum of shifted copies, then every stride-th.

    Slow; for tests. Shapes as :func:`blur`.
    """
    spatial = x.shape[2:]
    padded = pad_for_filter(x, tuple(kernel.shape), padding_mode)
    out = torch.zeros_like(x)
    for offset in itertools.product(*(range(n) for n in kernel.shape)):
        window = tuple(slice(o, o + length) for o, length in zip(offset, spatial, strict=True))
        out = out + kernel[offset].to(x.dtype) * padded[(..., *window)]
    return out[(..., *(slice(None, None, stride),) * len(spatial))]


def blur_pool(
    x: torch.Tensor, stride: int = 2, filter_size: int = 3, padding_mode: str = "reflect"
) -> torch.Tensor:
    """Blur-pool (Zhang 2019): binomial low-pass of size ``filter_size``, then subsample.

    Shapes: (N, C, *S) -> (N, C, *ceil(S / stride)); 1, 2 or 3 spatial axes.

    Example:
        >>> blur_pool(torch.randn(2, 8, 32, 32)).shape
        torch.Size([2, 8, 16, 16])
    """
    kernel = separable_kernel(binomial_taps(filter_size, device=x.device), x.dim() - 2)
    return blur(x, kernel, stride, padding_mode)
