"""The closed-form plan of the fused resize-convolution, one spatial axis at a time.

Along one axis (kernel size k, integer scale s, interpolation kernel b: a box of s samples
for nearest, a hat of width 2s for linear), the resize-convolution is

    E[n] = sum_j w[j] U[n + j - left],   U = pad(u),   u[m] = sum_i x[i] b(m - s i).

Away from the ends that is a transposed convolution of stride s with the lifted kernel
``v(t) = sum_j w[j] b(t + j - left)``, run on ``x`` as it is (no padding, so it costs what
``ConvTransposeNd`` costs):

    T[n] = sum_{0 <= i < L} x[i] v(n - s i).

Near each end, interpolation clamps and the padding of U brings in values that T does not
see. The difference is linear in ``w`` and ``x`` and reaches only ``count`` outputs and
``strip`` input samples at that end, by a fixed table D of (k, s, mode, padding):

    E[n] - T[n] = sum_{i in strip} sum_j w[j] D[n, i, j]         (a :class:`BorderBlock`).

Everything here is exact integer arithmetic (weights in units of 1/(2s)), cached per axis; the torch
side (:mod:`checkerscope.functional.resize_conv`) turns it into convolutions. The blocks are
read off a long axis and then verified against the definition on every length from 1 up,
which gives the smallest length the fused path is exact for (:attr:`AxisPlan.min_size`).
"""

from __future__ import annotations

import functools
from fractions import Fraction
from typing import NamedTuple

import torch

Coefficients = dict[int, int]  # input sample index -> weight, in units of 1/(2s)
Table = tuple[tuple[tuple[float, ...], ...], ...]  # (count, strip, k)


def same_padding(kernel_size: int) -> tuple[int, int]:
    """(left, right) padding that keeps the length, as ``padding="same"`` in torch."""
    left = (kernel_size - 1) // 2
    return left, kernel_size - 1 - left


def impulse(t: int, scale_factor: int, mode: str) -> Fraction:
    """Weight of one low-resolution sample at high-resolution offset ``t`` from its block.

    Example:
        >>> [str(impulse(t, 2, "bilinear")) for t in range(-1, 3)]
        ['1/4', '3/4', '3/4', '1/4']
    """
    return Fraction(_impulse(t, scale_factor, mode), 2 * scale_factor)


def _impulse(t: int, s: int, mode: str) -> int:
    if mode == "nearest":
        return 2 * s if 0 <= t < s else 0
    # align_corners=False puts sample i at high-resolution coordinate s*i + (s-1)/2.
    return max(0, 2 * s - abs(2 * t + 1 - s))


def upsampled(m: int, length: int, scale_factor: int, mode: str) -> Coefficients:
    """``u[m]`` of an input of ``length`` samples, as torch's interpolate computes it."""
    s = scale_factor
    if mode == "nearest":
        return {m // s: 2 * s}
    # torch: source = max(0, (m + 1/2) / s - 1/2), linear between floor(source) and the next
    # sample, clamped to the last; here in units of 1/(2s).
    source = max(0, 2 * m + 1 - s)
    low = min(source // (2 * s), length - 1)
    frac = source - 2 * s * low
    high = min(low + 1, length - 1)
    out: Coefficients = {low: 2 * s - frac}
    out[high] = out.get(high, 0) + frac
    return out


def padded(m: int, length: int, scale_factor: int, mode: str, padding_mode: str) -> Coefficients:
    """``U[m]`` for any ``m``: the upsampled signal with its 'same' padding around it."""
    size = scale_factor * length
    if 0 <= m < size:
        return upsampled(m, length, scale_factor, mode)
    if padding_mode == "zeros":
        return {}
    if padding_mode == "replicate":
        return upsampled(min(max(m, 0), size - 1), length, scale_factor, mode)
    return upsampled(-m if m < 0 else 2 * (size - 1) - m, length, scale_factor, mode)


class BorderBlock(NamedTuple):
    """What the transposed convolution misses at one end of one axis.

    ``table[n][i][j]`` is the weight of ``w[j] * x[i]`` in output n, n and i counted from the
    first output and input sample of the block (at the right end, n = 0 is output ``count``
    from the last and i = 0 is input ``strip`` from the last).
    """

    count: int
    strip: int
    table: Table


class AxisPlan(NamedTuple):
    """How the fused path treats one spatial axis; closed-form constants of (k, s, mode)."""

    kernel_size: int
    scale_factor: int
    lift: tuple[tuple[float, ...], ...]  # (taps, k): the tied transposed-conv taps from w
    padding: int  # transposed-conv padding: crops the full output to s*L ...
    output_padding: int  # ... on both sides, minus this on the right
    trim: int  # further left crop, when output_padding would reach the stride
    left: BorderBlock
    right: BorderBlock
    min_size: int  # shortest input for which T plus the two blocks equals E
    # Replicate samples ("ghosts") that, added at each end of x, make the transposed
    # convolution of the extended input equal E on every input length (ghost_exact), and the
    # transposed convolution's padding, output padding and trim for the extended input.
    ghost: int
    ghost_exact: bool
    ghost_padding: int
    ghost_output_padding: int
    ghost_trim: int

    @property
    def exact(self) -> bool:
        """True when the transposed convolution alone is the resize-convolution."""
        return self.left.count == 0 and self.right.count == 0

    @property
    def taps(self) -> int:
        return len(self.lift)


def _support(scale_factor: int, mode: str) -> tuple[int, int]:
    s = scale_factor
    offsets = [t for t in range(-s, 2 * s) if _impulse(t, s, mode)]
    return offsets[0], offsets[-1]


def _difference(
    k: int, s: int, mode: str, padding_mode: str, length: int
) -> dict[tuple[int, int, int], int]:
    """The nonzero entries (n, i, j) of E - T on an axis of ``length`` input samples."""
    left = same_padding(k)[0]
    low, high = _support(s, mode)
    out: dict[tuple[int, int, int], int] = {}
    for n in range(s * length):
        for j in range(k):
            m = n + j - left
            entry = dict(padded(m, length, s, mode, padding_mode))
            for i in range(max(0, -(-(m - high) // s)), min(length, (m - low) // s + 1)):
                entry[i] = entry.get(i, 0) - _impulse(m - s * i, s, mode)
            for i, c in entry.items():
                if c != 0:
                    out[(n, i, j)] = c
    return out


def _block(
    difference: dict[tuple[int, int, int], int], near: int, last_n: int, last_i: int
) -> tuple[int, int, dict[tuple[int, int, int], int]]:
    """(count, strip, entries) of the block at one end: the left end for ``last_* < 0``,
    else the right end of an axis whose last output and input are ``last_n``, ``last_i``."""
    mirrored = {}
    for (n, i, j), c in difference.items():
        rn, ri = (n, i) if last_n < 0 else (last_n - n, last_i - i)
        if rn < near:
            mirrored[(rn, ri, j)] = c
    count = 1 + max((n for n, _, _ in mirrored), default=-1)
    strip = 1 + max((i for _, i, _ in mirrored), default=-1)
    if last_n < 0:
        return count, strip, mirrored
    # Counted from the first row and column of the block, as the block sits in y and x.
    entries = {(count - 1 - n, strip - 1 - i, j): c for (n, i, j), c in mirrored.items()}
    return count, strip, entries


def _table(count: int, strip: int, k: int, s: int, entries: dict) -> Table:
    return tuple(
        tuple(tuple(entries.get((n, i, j), 0) / (2 * s) for j in range(k)) for i in range(strip))
        for n in range(count)
    )


def _ghosts_exact(k: int, s: int, mode: str, padding_mode: str, length: int, ghost: int) -> bool:
    """Whether E is the transposed convolution of x extended by ``ghost`` replicated samples."""
    left = same_padding(k)[0]
    low, high = _support(s, mode)
    for n in range(s * length):
        for j in range(k):
            m = n + j - left
            entry = dict(padded(m, length, s, mode, padding_mode))
            for i in range(-(-(m - high) // s), (m - low) // s + 1):
                if -ghost <= i < length + ghost:
                    near = min(max(i, 0), length - 1)
                    entry[near] = entry.get(near, 0) - _impulse(m - s * i, s, mode)
            if any(entry.values()):
                return False
    return True


def _geometry(t_min: int, t_max: int, s: int, ghost: int) -> tuple[int, int, int]:
    """(padding, output_padding, trim) cropping the full transposed convolution of an input
    with ``ghost`` extra samples at each end to the s*L outputs of the real ones."""
    crop_left, crop_right = -t_min + s * ghost, t_max + 1 - s + s * ghost
    if crop_left - crop_right < s:
        return crop_left, crop_left - crop_right, 0
    # s = 1 and an even kernel: crop the extra sample on the left by hand
    return crop_right, 0, crop_left - crop_right


def _reflect_fits(k: int, s: int, length: int, padding_mode: str) -> bool:
    return padding_mode != "reflect" or max(same_padding(k)) < s * length


def _blocks_equal_difference(
    k: int, s: int, mode: str, padding_mode: str, length: int, blocks: tuple
) -> bool:
    """Whether T plus the two blocks (rows past the axis dropped) is E at this length."""
    (_, sl, left), (cr, sr, right) = blocks
    if max(sl, sr) > length:
        return False
    size = s * length
    placed: dict[tuple[int, int, int], int] = {}
    for (n, i, j), c in left.items():
        if n < size:
            placed[(n, i, j)] = placed.get((n, i, j), 0) + c
    for (n, i, j), c in right.items():
        if n >= cr - size:
            key = (size - cr + n, length - sr + i, j)
            placed[key] = placed.get(key, 0) + c
    placed = {key: c for key, c in placed.items() if c != 0}
    return placed == _difference(k, s, mode, padding_mode, length)


# Dynamo would trace this pure-Python arithmetic (through the cache); it is a constant.
@functools.cache
@torch.compiler.assume_constant_result
def axis_plan(k: int, s: int, mode: str, padding_mode: str) -> AxisPlan:
    """The plan of one axis with kernel size ``k`` and scale ``s``.

    Example:
        >>> p = axis_plan(3, 2, "nearest", "reflect")
        >>> p.lift  # v = [w2, w1 + w2, w0 + w1, w0]
        ((0.0, 0.0, 1.0), (0.0, 1.0, 1.0), (1.0, 1.0, 0.0), (1.0, 0.0, 0.0))
        >>> p.left, p.min_size  # output 0 misses w0 * x[0], the reflected sample
        (BorderBlock(count=1, strip=1, table=(((1.0, 0.0, 0.0),),)), 1)
    """
    left, right = same_padding(k)
    low, high = _support(s, mode)
    t_min, t_max = low - right, high + left
    lift = tuple(
        tuple(_impulse(t + j - left, s, mode) / (2 * s) for j in range(k))
        for t in range(t_min, t_max + 1)
    )
    # Interpolation clamps at the ends, so inside [0, s*L) the upsampled signal is that of x
    # extended by replication (nearest with zero padding needs the zero extension: none).
    ghost = (
        0
        if (mode, padding_mode) == ("nearest", "zeros")
        else max(0, t_max // s, (s - 1 - t_min) // s)
    )

    # Read the blocks off an axis long enough for the two ends not to meet, then find the
    # shortest axis on which they are still the whole difference.
    reach = k // s + 3  # input samples; the blocks are smaller (checked below)
    long = 2 * reach + 1
    difference = _difference(k, s, mode, padding_mode, long)
    blocks = (
        _block(difference, s * reach, -1, -1),
        _block(difference, s * reach, s * long - 1, long - 1),
    )
    if not _blocks_equal_difference(k, s, mode, padding_mode, long, blocks):
        raise AssertionError(f"border blocks of k={k}, s={s}, {mode}, {padding_mode} incomplete")
    min_size = long
    for length in range(long - 1, 0, -1):
        if not _reflect_fits(k, s, length, padding_mode):
            break  # shorter inputs raise before reaching the fused path
        if not _blocks_equal_difference(k, s, mode, padding_mode, length, blocks):
            break
        min_size = length
    exact = all(
        _ghosts_exact(k, s, mode, padding_mode, length, ghost)
        for length in range(1, long + 1)
        if _reflect_fits(k, s, length, padding_mode)
    )
    (cl, sl, le), (cr, sr, ri) = blocks
    return AxisPlan(
        k,
        s,
        lift,
        *_geometry(t_min, t_max, s, 0),
        BorderBlock(cl, sl, _table(cl, sl, k, s, le)),
        BorderBlock(cr, sr, _table(cr, sr, k, s, ri)),
        min_size,
        ghost,
        exact,
        *_geometry(t_min, t_max, s, ghost),
    )
