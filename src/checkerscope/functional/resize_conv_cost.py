"""What ``impl="auto"`` weighs: the predicted time of the fused and the reference paths.

Each path's forward + backward is predicted from three counts that the layer's numbers and
the input's shape fix:

* multiply-adds of its convolutions (the fused path's transposed convolution has fewer taps
  than the reference's convolution of the upsampled input, so it wins on large inputs);
* convolution calls: the fused path makes one per border term (up to 26 in 3-D) and their
  fixed cost, not their work, dominates on small inputs;
* elements moved: the fused path's kernels (rebuilt from ``w`` on every call) and the
  reference's upsampled input.

The seconds per count (:data:`FUSED_SECONDS`, :data:`REFERENCE_SECONDS`; a transposed and a
plain convolution do not run at the same rate) were fitted, one torch thread, to forward +
backward times of both paths in 3-D over kernel 3 and 5, scale 2 and 4, both modes and inputs
from 3 to 24 samples per axis (``python benchmarks/layers.py --tables sweep``) on the machine
named there; only their ratios matter to the choice. :func:`checkerscope.functional.
resize_conv.auto_impl` consults it in 3-D only: fitted to 1-D and 2-D sweeps, the same model
predicted the reference faster for a DCGAN generator's layers (batch 32, 4 to 16 px), where
the fused path was 23% faster. On another machine the rule is right away from the crossover
and may miss near it, where the two paths cost about the same: the benchmark's sweep
measures "auto / best".
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

from checkerscope.functional.resize_conv_program import program


class Counts(NamedTuple):
    """What one forward + backward of a path costs: multiply-adds, calls, elements moved."""

    macs: float
    calls: float
    moved: float


# Seconds per multiply-add, per convolution call and per element moved, one CPU thread,
# fitted (relative least squares) to 56 measured 3-D cases of each path; see the docstring.
FUSED_SECONDS = Counts(macs=1.07e-11, calls=6.86e-5, moved=4.35e-9)
REFERENCE_SECONDS = Counts(macs=1.13e-11, calls=0.0, moved=4.79e-10)


def fused_counts(
    kernel_size: tuple[int, ...],
    scale_factor: int,
    mode: str,
    padding_mode: str,
    input_shape: tuple[int, ...],
    out_channels: int,
) -> Counts:
    """Counts of the fused path for an input of ``input_shape`` (N, C_in, *spatial).

    Example:
        >>> fused_counts((3, 3), 2, "nearest", "reflect", (1, 8, 32, 32), 4).calls  # 9 convolutions
        18
    """
    prog = program(kernel_size, scale_factor, mode, padding_mode)
    batch, c_in, *sizes = input_shape
    taps = math.prod(p.taps for p in prog.plans)
    extended = [n + 2 * g for n, g in zip(sizes, prog.ghosts, strict=True)]
    main = math.prod(extended if prog.ghosted else sizes) * taps
    terms = sum(
        math.prod(t.strips)
        * math.prod(t.counts)
        * math.prod(sizes[a] * prog.plans[a].taps for a in t.conv_axes)
        for t in prog.terms
    )
    # Ghosted: one forward call, then the input gradient, the weight gradient and one weight
    # gradient per term; otherwise a forward and a backward call per convolution.
    n = len(prog.terms)
    calls = 3 + n if prog.ghosted else 2 * (1 + n)
    kernels = sum(math.prod(length for _, length in cols) for cols in prog.columns)
    return Counts(
        3 * batch * c_in * out_channels * (main + terms), calls, 2 * c_in * out_channels * kernels
    )


def reference_counts(
    kernel_size: tuple[int, ...],
    scale_factor: int,
    mode: str,
    input_shape: tuple[int, ...],
    out_channels: int,
) -> Counts:
    """Counts of the reference path (interpolate, pad, convolve) for ``input_shape``.

    Example:
        >>> reference_counts((3, 3), 2, "nearest", (1, 8, 32, 32), 4).macs
        3538944
    """
    batch, c_in, *sizes = input_shape
    up = [scale_factor * n for n in sizes]
    macs = 3 * batch * c_in * out_channels * math.prod(up) * math.prod(kernel_size)
    padded = math.prod(u + k - 1 for u, k in zip(up, kernel_size, strict=True))
    # Linear interpolation reads 2 samples per axis.
    moved = 3 * batch * c_in * padded * (2 ** len(sizes) if mode == "bilinear" else 1)
    return Counts(macs, 0, moved)


def predicted_seconds(counts: Counts, seconds: Counts) -> float:
    """The time ``seconds`` (per count) predicts for ``counts``."""
    return sum(n * t for n, t in zip(counts, seconds, strict=True))


# Called on every eager 3-D forward with ``impl="auto"``; the answer depends only on these
# few numbers, so it is worked out once per layer configuration and input shape.
@functools.lru_cache(maxsize=1024)
def faster_path(
    kernel_size: tuple[int, ...],
    scale_factor: int,
    mode: str,
    padding_mode: str,
    input_shape: tuple[int, ...],
    out_channels: int,
) -> str:
    """ "fused" or "reference", whichever :func:`predicted_seconds` says is faster.

    Example:
        >>> faster_path((3, 3), 2, "nearest", "reflect", (8, 64, 32, 32), 32)
        'fused'
        >>> faster_path((3, 3, 3), 2, "bilinear", "reflect", (1, 4, 4, 4, 4), 2)
        'reference'
    """
    fused = fused_counts(kernel_size, scale_factor, mode, padding_mode, input_shape, out_channels)
    reference = reference_counts(kernel_size, scale_factor, mode, input_shape, out_channels)
    faster = predicted_seconds(fused, FUSED_SECONDS) <= predicted_seconds(
        reference, REFERENCE_SECONDS
    )
    return "fused" if faster else "reference"
