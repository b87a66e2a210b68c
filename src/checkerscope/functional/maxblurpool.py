"""Max-blur-pool (Zhang 2019): max pooling at stride 1, then blur-pool.

Zhang (2019), "Making Convolutional Networks Shift-Invariant Again": a max pool with stride s
takes each window's maximum and keeps every s-th one, and that subsampling aliases. MaxBlurPool
evaluates the maximum densely (stride 1, which does not alias) and moves the subsampling into a
blur-pool: a binomial low-pass, then every s-th sample (:mod:`checkerscope.functional.blurpool`).

Sizes, kept equal to ``nn.MaxPoolNd``'s for every input. Along an axis of length L, the
stride-1 maximum with kernel k, padding p (of -inf, as max pooling pads) and dilation d has
``L1 = L + 2p - d (k - 1)`` samples, and blur-pool keeps ``ceil(L1 / s) = floor((L1 - 1) / s) + 1``
of them: the max pool's size in floor mode. In ceil mode the max pool may add one output whose
window runs past the end; the stride-1 maximum then goes on over those partial windows (the
maximum of the samples they hold, which is what ceil mode takes) up to length ``(L_out - 1) s +
1``, and blur-pool keeps ``L_out`` again (:func:`max_pool_size` is torch's rule for L_out).

Alignment: output i is the blurred maximum around stride-1 position ``s i``, whose window starts
at input ``s i - p``, the start of the max pool's window i.
"""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F

from checkerscope.functional.blurpool import (
    binomial_taps,
    blur,
    blur_reference,
    separable_kernel,
)

_MAX_POOL = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}


def max_pool_size(length: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """The output length of ``nn.MaxPoolNd`` along one axis (torch's rule, ceil mode included:
    the last window must start inside the input or its left padding).

    Example:
        >>> max_pool_size(5, 2, 2, 0, 1, False), max_pool_size(5, 2, 2, 0, 1, True)
        (2, 3)
    """
    span = length + 2 * p - d * (k - 1) - 1
    out = (span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= length + p:
        out -= 1
    return out


def ceil_tails(
    x: torch.Tensor,
    k: tuple[int, ...],
    s: int,
    p: tuple[int, ...],
    d: tuple[int, ...],
    ceil_mode: bool,
) -> list[int]:
    """Per spatial axis of ``x``, how many samples the stride-1 maximum must go on past the end
    (see the module docstring): 0 in floor mode, and in ceil mode where no partial window is
    added.

    Example:
        >>> ceil_tails(torch.zeros(1, 1, 5), (2,), 2, (0,), (1,), ceil_mode=True)
        [1]
    """
    if not ceil_mode:
        # Floor mode never runs past the end ((L_out - 1) s + 1 <= L1 always); returning
        # without reading the sizes keeps them symbolic under torch.export and torch.compile.
        return [0] * (x.dim() - 2)
    tails = []
    for axis, length in enumerate(x.shape[2:]):
        dense = length + 2 * p[axis] - d[axis] * (k[axis] - 1)
        out = max_pool_size(length, k[axis], s, p[axis], d[axis], ceil_mode)
        tails.append(max(0, (out - 1) * s + 1 - dense))
    return tails


def check_sizes(
    x: torch.Tensor,
    kernel_size: tuple[int, ...],
    padding: tuple[int, ...],
    dilation: tuple[int, ...],
    tails: list[int],
    filter_size: int,
    padding_mode: str,
) -> None:
    """Raise a ValueError naming the input's shape where the stride-1 maximum (going on
    ``tails`` past the end, :func:`ceil_tails`) would be empty, or too short for the blur's
    reflect padding.

    Example:
        >>> x = torch.zeros(1, 1, 2)
        >>> check_sizes(x, (3,), (0,), (1,), [0], 3, "zeros")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ValueError: input of shape (1, 1, 2) is too small for kernel_size=3, padding=0, ...
    """
    shape = tuple(x.shape)
    for axis, n in enumerate(x.shape[2:]):
        k, p, d = kernel_size[axis], padding[axis], dilation[axis]
        dense = n + 2 * p - d * (k - 1) + tails[axis]
        # Messages are formatted only when raised: formatting a size fixes it under
        # torch.compile (one graph per input size).
        if dense < 1:
            where = f"spatial axis {axis} has size {n}"
            raise ValueError(
                f"input of shape {shape} is too small for kernel_size={k}, padding={p}, "
                f"dilation={d}: {where}, but the max pool needs at least {n - dense + 1}"
            )
        widest = filter_size - 1 - (filter_size - 1) // 2
        if padding_mode == "reflect" and widest >= dense:
            where = f"spatial axis {axis} has size {n}"
            raise ValueError(
                f"input of shape {shape} is too small for padding_mode='reflect': {where}, "
                f"which the stride-1 max pool turns into {dense}, but a filter of size "
                f"{filter_size} pads it by {widest}, which must be smaller; use "
                f"padding_mode='replicate' or 'zeros'"
            )


def dense_max(
    x: torch.Tensor,
    kernel_size: tuple[int, ...],
    padding: tuple[int, ...],
    dilation: tuple[int, ...],
    tails: list[int],
) -> torch.Tensor:
    """The stride-1 max pool of ``x`` (N, C, *S), going on ``tails[axis]`` samples past the end
    of each axis over partial windows (the input is extended by -inf there).

    Eager, ``F.max_poolNd`` does it. Under ``torch.compile`` and ``torch.export`` it is the
    separable form instead (one axis after the other, each the maximum of ``k`` shifted slices
    of the -inf padded input): ``F.max_pool1d`` fixes the length under ``torch.export``, while
    slices keep sizes symbolic, so the layer exports and compiles once for every size. Eager,
    the slices are 1.5-2x slower than the pool, hence the two; both are tested against
    :func:`max_blur_pool_reference` (eager directly, compiled and exported through the layer).

    Example:
        >>> dense_max(torch.tensor([[[1.0, 3.0, 2.0]]]), (2,), (0,), (1,), [1])
        tensor([[[3., 3., 2.]]])
    """
    if any(tails):
        pads: list[int] = []
        for t in reversed(tails):  # F.pad takes the last axis first
            pads.extend((0, t))
        x = F.pad(x, pads, value=-math.inf)
    if not torch.compiler.is_compiling():
        return _MAX_POOL[x.dim() - 2](x, kernel_size, stride=1, padding=padding, dilation=dilation)
    for axis in range(x.dim() - 2):
        k, p, d = kernel_size[axis], padding[axis], dilation[axis]
        dim = 2 + axis
        padded = F.pad(x, [0, 0] * (x.dim() - 3 - axis) + [p, p], value=-math.inf) if p else x
        span = padded.shape[dim] - d * (k - 1)  # the stride-1 map's length on this axis
        out = padded.narrow(dim, 0, span)
        for j in range(1, k):
            out = torch.maximum(out, padded.narrow(dim, j * d, span))
        x = out
    return x


def max_blur_pool(
    x: torch.Tensor,
    kernel_size: tuple[int, ...],
    stride: int = 2,
    padding: tuple[int, ...] | None = None,
    dilation: tuple[int, ...] | None = None,
    ceil_mode: bool = False,
    filter_size: int = 3,
    padding_mode: str = "reflect",
) -> torch.Tensor:
    """Max pool at stride 1, then blur-pool by ``stride`` (Zhang 2019), with the output size of
    ``nn.MaxPoolNd(kernel_size, stride, padding, dilation, ceil_mode=ceil_mode)``.

    Shapes: (N, C, *S) -> (N, C, *S_out), 1 to 3 spatial axes; ``kernel_size``, ``padding``
    (default 0) and ``dilation`` (default 1) have one entry per axis.

    Example:
        >>> max_blur_pool(torch.randn(2, 8, 9, 9), (2, 2)).shape
        torch.Size([2, 8, 4, 4])
    """
    dims = x.dim() - 2
    p = padding or (0,) * dims
    d = dilation or (1,) * dims
    dense = dense_max(x, kernel_size, p, d, ceil_tails(x, kernel_size, stride, p, d, ceil_mode))
    taps = binomial_taps(filter_size, dtype=x.dtype, device=x.device)
    return blur(dense, separable_kernel(taps, dims), stride, padding_mode)


def max_blur_pool_reference(
    x: torch.Tensor,
    kernel_size: tuple[int, ...],
    stride: int = 2,
    padding: tuple[int, ...] | None = None,
    dilation: tuple[int, ...] | None = None,
    ceil_mode: bool = False,
    filter_size: int = 3,
    padding_mode: str = "reflect",
) -> torch.Tensor:
    """:func:`max_blur_pool` by its definition: the maximum of shifted copies of the -inf padded
    input, then :func:`~checkerscope.functional.blurpool.blur_reference`. Slow; for tests."""
    dims = x.dim() - 2
    p = padding or (0,) * dims
    d = dilation or (1,) * dims
    tails = ceil_tails(x, kernel_size, stride, p, d, ceil_mode)
    pads: list[int] = []
    for axis in reversed(range(dims)):
        pads.extend((p[axis], p[axis] + tails[axis]))
    padded = F.pad(x, pads, value=-math.inf)
    spans = [
        padded.shape[2 + a] - d[a] * (kernel_size[a] - 1) for a in range(dims)
    ]  # the stride-1 map's length per axis
    dense = torch.full((*x.shape[:2], *spans), -math.inf, dtype=x.dtype, device=x.device)
    for taps in itertools.product(*(range(k) for k in kernel_size)):
        window = tuple(slice(t * d[a], t * d[a] + spans[a]) for a, t in enumerate(taps))
        dense = torch.maximum(dense, padded[(..., *window)])
    kernel = separable_kernel(binomial_taps(filter_size, dtype=torch.float64), dims)
    return blur_reference(dense, kernel, stride, padding_mode)
