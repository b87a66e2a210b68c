"""What ``impl="auto"`` weighs: the predicted time of the fused and the reference paths.

Each path's forward + backward is predicted from four counts that the layer's numbers and
the input's shape fix:

* multiply-adds of its convolutions (the fused path's transposed convolution has fewer taps
  than the reference's convolution of the upsampled input, so it wins on large inputs),
  counted on channel numbers rounded up to :data:`CHANNEL_BLOCK` (a convolution with 3
  output channels costs about as much as one with 16);
* calls: the fused path makes a convolution per border term (up to 26 in 3-D), the
  reference a few operations (interpolate, pad, convolve); their fixed cost, not their work,
  dominates on small inputs;
* elements moved: the fused path's kernels (rebuilt from ``w`` on every call: C_in x C_out
  per column, which dominates at 4-8 px with hundreds of channels) and the reference's
  upsampled input;
* border elements: the fused path's border blocks, folded into channels and added back.

The seconds per count (:data:`SECONDS`, per number of spatial axes; a transposed and a
plain convolution do not run at the same rate) were fitted on one CPU, one torch thread, to
forward + backward times of both paths (relative, non-negative least squares; only their
ratios matter to the choice):

* 1-D and 2-D: a training grid of batch 1, 8, 32; channels 16->8, 64->32, 256->128;
  16 to 1024 samples (1-D) or 4 to 32 px (2-D); kernel 3, 5; scale 2, 4; both modes
  (``python benchmarks/auto_rule.py --set training``), and cases with 1 to 8 channels on one
  side (64->3, 3->64, 32->4, 8->8; batch 1, 8; up to 64 px; ``--set few``). On an
  evaluation run fixed and measured after the fit (``--set fresh``: an SRGAN-like
  upsampler, a U-Net decoder, a StyleGAN-like 512-channel stack, final RGB layers, a 1-D
  decoder), ``auto`` came within 5% of the faster path in 48 of 48 1-D cases (always
  fused: 35) and 43 of 44 2-D cases (always fused: 28; the other a StyleGAN layer at
  16->32 px, 1.14x, which both rules run fused). The first model, fitted without the
  channel block or those cases, had sent a DCGAN's 64->3 layer to the reference at 1.56x.
  After the fused path's kernels were built by dense matrices, all sets were re-measured
  and refitted (the fourth attempt, ``auto_rule.py --previous library``, rule fixed before
  the evaluation sets ran): 2-D adopted (training within 5% 490 -> 497 of 531, evaluation
  43 of 44 before and after, worst 1.07x); 1-D not (training 430 -> 430 of 480; evaluation
  48 of 48 either way), so 1-D keeps the constants fitted before;
* 3-D: a training grid of batch 1, 2; channels 8->8, 32->16, 64->32; 3 to 16 samples per
  axis; kernel 3, 5; scale 2, 4; both modes (``--set volumes``, 281 cases after thinning),
  all four counts and the channel block. On an evaluation run fixed and measured after the
  fit (``--set fresh-volumes``: a 3-D U-Net decoder, 256->128 at 4^3 to 32->16 at 24^3, and
  a medical x2 upsampler, 16->16 at 20^3 and 32^3; batch 1, 2; both modes), ``auto`` came
  within 5% of the faster path in 23 of 24 cases, worst 1.15x (the earlier 3-D fit, to the
  layers benchmark's sweep with three counts and raw channels: 21 of 24, worst 1.36x), and
  in 259 of the 281 training cases (earlier: 255). Re-measured after the dense kernels (the
  fourth attempt), the refit was not adopted under its rule (training 252 -> 252 of 281),
  although on the re-measured evaluation set it would have done better (24 of 24 within 5%,
  worst 1.02x, against 23 of 24, worst 1.68x: a 3-D U-Net layer, 128->64 at 8^3, nearest,
  which these constants send to the reference).

On another machine the rule is right away from the crossover and may miss near it, where
the two paths cost about the same: the benchmark's sweep measures "auto / best".
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import torch

from checkerscope.functional.resize_conv_program import program


class Counts(NamedTuple):
    """What one forward + backward of a path costs: multiply-adds, calls, elements moved and
    elements of the fused path's border blocks copied."""

    macs: float
    calls: float
    moved: float
    border: float = 0.0


# Per number of spatial axes: (fused, reference) seconds per count, one CPU thread; see the
# module docstring for what each was fitted to.
SECONDS: dict[int, tuple[Counts, Counts]] = {
    # 1-D: 480 training cases of each path (288 grid + 192 with few channels).
    1: (
        Counts(macs=1.47e-11, calls=8.29e-05, moved=1.93e-09, border=2.01e-08),
        Counts(macs=1.06e-11, calls=3.15e-05, moved=1.06e-09),
    ),
    # 2-D: 531 training cases of each path (275 grid + 256 with few channels), re-measured
    # after the kernels were built by dense matrices (the fourth attempt).
    2: (
        Counts(macs=7.53e-12, calls=6.24e-05, moved=2.82e-09, border=1.03e-08),
        Counts(macs=7.92e-12, calls=3.26e-05, moved=8.11e-10),
    ),
    # 3-D: 281 training cases of each path (``auto_rule.py --set volumes``).
    3: (
        Counts(macs=3.69e-12, calls=6.65e-05, moved=4.01e-09, border=2.76e-08),
        Counts(macs=8.46e-12, calls=5.38e-05, moved=4.23e-10),
    ),
}


def cpu_channel_block() -> int:
    """Channels this CPU's convolutions compute together: oneDNN keeps channels in blocks of
    its vector width, 16 floats with AVX-512 and 8 with AVX2 (1 where unknown). Read from
    the CPU rather than fitted: a block fitted to the few training cases with few channels
    would be one more free number chosen on them.

    Example:
        >>> cpu_channel_block() in (1, 8, 16)
        True
    """
    return {"AVX512": 16, "AVX2": 8}.get(torch.backends.cpu.get_cpu_capability(), 1)


# Per number of spatial axes: the channel block the multiply-adds are counted on; every
# dimension was fitted with this CPU's block (16, AVX-512).
CHANNEL_BLOCK = dict.fromkeys((1, 2, 3), cpu_channel_block())


def blocked_channels(c_in: int, c_out: int, block: int) -> int:
    """C_in x C_out, each rounded up to a multiple of ``block``.

    Example:
        >>> blocked_channels(64, 3, 16), blocked_channels(64, 3, 1)
        (1024, 192)
    """
    return -(-c_in // block) * block * (-(-c_out // block) * block)


def fused_counts(
    kernel_size: tuple[int, ...],
    scale_factor: int,
    mode: str,
    padding_mode: str,
    input_shape: tuple[int, ...],
    out_channels: int,
    channel_block: int = 1,
) -> Counts:
    """Counts of the fused path for an input of ``input_shape`` (N, C_in, *spatial);
    multiply-adds on channels rounded up to ``channel_block``.

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
    # Each term copies its input block (folded into channels) and its output block: forward
    # (read x, add into y) and backward (fold the output gradient, add the input gradient);
    # ghosted, only the backward's weight gradient reads them.
    blocks = sum(
        c_in * math.prod(t.strips) * math.prod(sizes[a] for a in t.conv_axes)
        + out_channels
        * math.prod(t.counts)
        * math.prod(scale_factor * sizes[a] for a in t.conv_axes)
        for t in prog.terms
    )
    return Counts(
        3 * batch * blocked_channels(c_in, out_channels, channel_block) * (main + terms),
        calls,
        2 * c_in * out_channels * kernels,
        (1 if prog.ghosted else 2) * batch * blocks,
    )


def reference_counts(
    kernel_size: tuple[int, ...],
    scale_factor: int,
    mode: str,
    input_shape: tuple[int, ...],
    out_channels: int,
    channel_block: int = 1,
) -> Counts:
    """Counts of the reference path (interpolate, pad, convolve) for ``input_shape``;
    multiply-adds on channels rounded up to ``channel_block``.

    Example:
        >>> reference_counts((3, 3), 2, "nearest", (1, 8, 32, 32), 4).macs
        3538944
    """
    batch, c_in, *sizes = input_shape
    up = [scale_factor * n for n in sizes]
    channels = blocked_channels(c_in, out_channels, channel_block)
    macs = 3 * batch * channels * math.prod(up) * math.prod(kernel_size)
    padded = math.prod(u + k - 1 for u, k in zip(up, kernel_size, strict=True))
    # Linear interpolation reads 2 samples per axis.
    moved = 3 * batch * c_in * padded * (2 ** len(sizes) if mode == "bilinear" else 1)
    # Operations it dispatches, forward and backward: the convolution, a padding per axis,
    # and the interpolation (linear: a blend per phase and axis).
    ops = 1 + len(sizes) + (len(sizes) * scale_factor if mode == "bilinear" else 1)
    return Counts(macs, 2 * ops, moved)


def predicted_seconds(counts: Counts, seconds: Counts) -> float:
    """The time ``seconds`` (per count) predicts for ``counts``."""
    return sum(n * t for n, t in zip(counts, seconds, strict=True))


# Called on every eager CPU forward with ``impl="auto"``; the answer depends only on these
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
    block = CHANNEL_BLOCK[len(kernel_size)]
    fused = fused_counts(
        kernel_size, scale_factor, mode, padding_mode, input_shape, out_channels, block
    )
    reference = reference_counts(kernel_size, scale_factor, mode, input_shape, out_channels, block)
    fused_seconds, reference_seconds = SECONDS[len(kernel_size)]
    faster = predicted_seconds(fused, fused_seconds) <= predicted_seconds(
        reference, reference_seconds
    )
    return "fused" if faster else "reference"
