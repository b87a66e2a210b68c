"""Peak and background energy on the frequency lattice of a period: what the score measures.

A pattern of period ``p`` puts all of its energy on the bins ``(a*H/p, b*W/p)`` of an image
whose sides are multiples of ``p`` (DC excluded). Those bins are of three kinds (:data:`CLASSES`),
each compared with the background it can be confused with:

- ``"lattice"`` (``a`` and ``b`` non-zero): patterns that vary along both axes, the
  checkerboards of Odena et al. (2016). Power of Moisan's periodic component (so the image's
  edges leave no cross); background: the median of the Chebyshev ring ``2 <= |g - f| <= 4``
  around the peak, or, if larger, the median along any of four lines through it (a row, a
  column, and the two lines that 45-degree lines and edges in the image put through it), over
  ``ln 2``. A periodic pattern is a point of the spectrum; a straight line, edge or staircase is
  a line of it, which the ring alone would miss.
- ``"rows"`` (``b = 0``) and ``"columns"`` (``a = 0``): patterns that repeat down the rows or
  along the columns. These bins sit on a frequency axis, where every horizontal or vertical
  line, frame, letterbox bar and edge of the image puts energy along the whole axis, so they are
  compared with their own axis only: the power spectrum of the row (column) sums, raw, since an
  enlarged image's exact zeros there must stay zero. Background: the median of the axis bins
  ``2 <= |k - k0| <= 8`` around the peak, raised to the strongest other peak within half a
  lattice step once each bin is divided by its own neighbours' median: content of a longer
  period (lines of text, table rows) puts a comb of peaks there, of which the lattice bin is one.

One definition, two implementations: :func:`lattice_energy` (torch; batches, any float dtype and
device, differentiable) is the definition; :func:`lattice_energy_numpy` (NumPy/SciPy, one image
without gradients) is the fast path that a scan takes once per file. Both read only the bins the
lattices need: a few thousand, not the whole spectrum. :mod:`checkerscope.analysis.score` checks
arguments, normalises, tiles, picks one and converts to dB.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np
import scipy.fft
import torch

from checkerscope.analysis.spectra import smooth_factors

CLASSES: tuple[str, ...] = ("lattice", "rows", "columns")
"""Where a period's energy sits: both axes, down the rows (``b = 0``), along columns (``a = 0``)."""

RING = 4
"""Outer Chebyshev radius, in bins, of the background ring (and lines) around a lattice peak."""

AXIS_RING = 8
"""Outer radius, in bins, of the background of a peak on an axis, taken along that axis."""

_LN2 = math.log(2)


def radii(n: int, p: int, outer: int) -> tuple[int, int]:
    """Inner and outer radius of a background around a peak of a period-``p`` lattice on ``n`` bins.

    The outer one stays within half a lattice step; the inner one keeps a peak spread over its
    3 x 3 block from being its own background.
    """
    r_out = min(outer, n // p // 2)
    return (2 if r_out >= 3 else 1), r_out


def _offsets(r_in: int, r_out: int) -> torch.Tensor:
    """The integers ``r_in <= |d| <= r_out``, negative ones first."""
    return torch.cat([torch.arange(-r_out, 1 - r_in), torch.arange(r_in, r_out + 1)])


def _flat(y: torch.Tensor, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Flat rfft2 index of full-spectrum bins ``(y, x)``; bins beyond the half-plane are mapped to
    their conjugates, which have the same power."""
    half = w // 2 + 1
    y, x = y % h, x % w
    mirror = x >= half
    y = torch.where(mirror, (-y) % h, y)
    x = torch.where(mirror, w - x, x)
    return y * half + x


@functools.lru_cache(maxsize=128)
def plane_geometry(h: int, w: int, p: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Flat rfft2 indices of the period-``p`` lattice peaks (L,), their rings (L, R) and the four
    lines through each (L, 4, M), on an ``h`` x ``w`` spectrum (both multiples of ``p``).

    Lines step one bin along their longer direction: a row, a column, and ``(h, w)`` and
    ``(h, -w)``, the directions in bins of the spectra of 45-degree lines in the image.

    Example:
        >>> [t.shape for t in plane_geometry(64, 64, 2)]
        [torch.Size([1]), torch.Size([1, 72]), torch.Size([1, 4, 6])]
    """
    r_in, r_out = radii(min(h, w), p, RING)
    d = torch.arange(-r_out, r_out + 1)
    dy, dx = (t.flatten() for t in torch.meshgrid(d, d, indexing="ij"))
    ring = torch.maximum(dy.abs(), dx.abs()) >= r_in
    dy, dx = dy[ring], dx[ring]
    grid = torch.meshgrid(torch.arange(1, p), torch.arange(1, p), indexing="ij")
    ky, kx = (t.flatten() * n for t, n in zip(grid, (h // p, w // p), strict=True))
    side = max(h, w)
    steps = torch.tensor([[0, 1], [1, 0], [h / side, w / side], [h / side, -w / side]])
    steps = steps / steps.abs().amax(dim=1, keepdim=True)
    t = _offsets(r_in, r_out).double()
    ly, lx = (torch.round(steps[:, i, None].double() * t).long() for i in (0, 1))  # (4, M)
    return (
        _flat(ky, kx, h, w),
        _flat(ky[:, None] + dy, kx[:, None] + dx, h, w),
        _flat(ky[:, None, None] + ly, kx[:, None, None] + lx, h, w),
    )


@functools.lru_cache(maxsize=128)
def axis_geometry(n: int, p: int, half: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Positions on the power spectrum of a length-``n`` axis: the period-``p`` peaks (p-1,), the
    window of bins ``2 <= |k - k0| <= max(2, n/(2p))`` around each (p-1, K), and the neighbours
    ``2 <= |j - k| <= 8`` of each peak and window bin (p-1, 1 + K, M) whose median whitens it.

    ``half``: positions on an rfft (length ``n//2 + 1``), bins past ``n/2`` mapped to their mirror.

    Example:
        >>> [t.shape for t in axis_geometry(256, 2, half=False)]
        [torch.Size([1]), torch.Size([1, 126]), torch.Size([1, 127, 14])]
    """
    step = n // p
    r_in, r_out = radii(n, p, AXIS_RING)
    peaks = torch.arange(1, p) * step
    window = peaks[:, None] + _offsets(r_in, max(r_in, step // 2))
    at = torch.cat([peaks[:, None], window], dim=1)
    neighbours = at[..., None] + _offsets(r_in, r_out)

    def fold(k: torch.Tensor) -> torch.Tensor:
        k = k % n
        return torch.where(k > n // 2, n - k, k) if half else k

    return fold(peaks), fold(window), fold(neighbours)


class _Plane(NamedTuple):
    """What :func:`lattice_energy` reads of the 2-D spectrum, on one device."""

    bins: torch.Tensor  # (N,) flat rfft2 indices of every bin read
    ky: torch.Tensor  # (N,) their rows
    kx: torch.Tensor  # (N,) their columns
    a: torch.Tensor  # (N,) smooth-component factors there (see spectra.smooth_factors)
    b: torch.Tensor
    peaks: tuple[torch.Tensor, ...]  # per period, positions in ``bins``: (L,)
    rings: tuple[torch.Tensor, ...]  # (L, R)
    lines: tuple[torch.Tensor, ...]  # (L, 4, M)


@functools.lru_cache(maxsize=64)
def _plane(
    h: int, w: int, periods: tuple[int, ...], dtype: torch.dtype, device: torch.device
) -> _Plane:
    parts = [plane_geometry(h, w, p) for p in periods]
    flat = torch.cat([t.flatten() for part in parts for t in part])
    bins, position = torch.unique(flat, return_inverse=True)
    split, k = [], 0
    for part in parts:
        for t in part:
            split.append(position[k : k + t.numel()].view(t.shape).to(device))
            k += t.numel()
    half = w // 2 + 1
    a, b = smooth_factors(h, w, dtype, device)
    bins = bins.to(device)
    return _Plane(
        bins, bins // half, bins % half, a.flatten()[bins], b.flatten()[bins],
        tuple(split[0::3]), tuple(split[1::3]), tuple(split[2::3]),
    )  # fmt: skip


@functools.lru_cache(maxsize=64)
def _axes(h: int, w: int, periods: tuple[int, ...], device: torch.device) -> tuple[tuple, ...]:
    """:func:`axis_geometry` of the rows (a full fft of length ``h``) and the columns (an rfft
    of length ``w``) for each period, on ``device``."""
    return tuple(
        tuple(
            tuple(t.to(device) for t in axis_geometry(n, p, half))
            for n, half in ((h, False), (w, True))
        )
        for p in periods
    )


def _power(z: torch.Tensor) -> torch.Tensor:
    return torch.view_as_real(z).square().sum(dim=-1)


def _axis_energy(
    power: torch.Tensor, geometry: tuple[torch.Tensor, ...], floor: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Peak and background energy (B,) of one period on one axis spectrum (B, n)."""
    peaks, window, neighbours = geometry
    local = torch.maximum(power[:, neighbours].median(dim=-1).values, floor[:, None, None])
    whitened = (power[:, window] / local[..., 1:]).amax(dim=-1)  # (B, p-1)
    bg = local[..., 0] * torch.clamp(whitened, min=1 / _LN2)
    return power[:, peaks].sum(dim=1), bg.sum(dim=1)


def edge_jumps(x: torch.Tensor, period: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The jumps that drive the smooth component: ``rfft`` of (last row - first row) (..., W//2+1)
    and ``fft`` of (last column - first column) (..., H), of ``x`` (..., H, W) less its
    ``period``-periodic part (its mean over each phase ``(i mod period, j mod period)``).

    Moisan's smooth part is driven by the jumps between opposite edges, which a pattern of the
    lattice has too (a period-2 checkerboard's last row is its first row negated), although it
    tiles the plane: left in, they would leak the pattern along the lattice's rows and columns,
    onto the very lines the background is read from. ``H`` and ``W`` are multiples of ``period``.

    Example:
        >>> x = torch.tensor([[1.0, -1.0], [-1.0, 1.0]]).repeat(4, 4)  # a period-2 checkerboard
        >>> [float(t.abs().max()) for t in edge_jumps(x, 2)]
        [0.0, 0.0]
    """
    h, w = x.shape[-2:]
    first_rows, last_rows = (x[..., i::period, :].mean(dim=-2) for i in (0, period - 1))
    first_cols, last_cols = (x[..., i::period].mean(dim=-1) for i in (0, period - 1))

    def phases(v: torch.Tensor) -> torch.Tensor:  # (..., n) -> its mean over each phase (..., L)
        return v.unflatten(-1, (-1, period)).mean(dim=-2)

    rows = x[..., -1, :] - x[..., 0, :] - (phases(last_rows) - phases(first_rows)).tile(w // period)
    cols = x[..., -1] - x[..., 0] - (phases(last_cols) - phases(first_cols)).tile(h // period)
    return torch.fft.rfft(rows), torch.fft.fft(cols)


def _without_dc(power: torch.Tensor) -> torch.Tensor:
    """An axis spectrum (B, n) with DC at infinity: the mean is removed, so DC holds rounding
    only, and a median that reaches it (near the first peaks of small images) must ignore it."""
    return torch.cat([torch.full_like(power[:, :1], math.inf), power[:, 1:]], dim=1)


def lattice_energy(x: torch.Tensor, periods: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Peak and background energies (B, P, 3) of images (B, C, H, W), channels' spectra averaged.

    The definition (see the module's docstring): for each period and each of :data:`CLASSES`,
    the summed power at the peaks and the summed background, floored relative to the total
    power read so that a flat image stays finite. ``x`` is float32 or float64, finite, with
    sides that are multiples of every period, each at least twice the largest; ``periods`` are
    distinct integers >= 2 (arguments are checked by the score's entry points in
    :mod:`checkerscope.analysis.score`).

    Example:
        >>> art, bg = lattice_energy(torch.rand(2, 1, 64, 64), (2, 4))
        >>> art.shape, bool((bg > 0).all())
        (torch.Size([2, 2, 3]), True)
    """
    h, w = x.shape[-2:]
    plane = _plane(h, w, periods, x.dtype, x.device)
    x = x - x.mean(dim=(-2, -1), keepdim=True)  # as lattice_energy_numpy does
    spectrum = torch.fft.rfft2(x)
    rows, cols = edge_jumps(x, math.lcm(*periods))
    periodic = spectrum.flatten(-2)[..., plane.bins] - (
        plane.a * rows[..., plane.kx] + plane.b * cols[..., plane.ky]
    )
    power = _power(periodic).mean(dim=1)  # (B, N)
    down = _power(spectrum[..., :, 0]).mean(dim=1)  # (B, H): the spectrum of the row sums
    along = _power(spectrum[..., 0, :]).mean(dim=1)  # (B, W//2+1): of the column sums
    tiny = torch.finfo(power.dtype)
    total = power.sum(dim=1) + down.sum(dim=1) + along.sum(dim=1)
    floor = (total * tiny.eps).clamp(min=tiny.tiny)
    down, along = (_without_dc(t) for t in (down, along))
    art, bg = [], []
    for i, axes in enumerate(_axes(h, w, periods, x.device)):
        ring = power[:, plane.rings[i]].median(dim=-1).values
        lines = power[:, plane.lines[i]].median(dim=-1).values.amax(dim=-1)
        energies = [
            (power[:, plane.peaks[i]].sum(dim=1), torch.maximum(ring, lines).sum(dim=1) / _LN2)
        ]
        energies += [
            _axis_energy(spec, g, floor) for spec, g in zip((down, along), axes, strict=True)
        ]
        art.append(torch.stack([e[0] for e in energies], dim=1))
        bg.append(torch.stack([e[1] for e in energies], dim=1))
    return torch.stack(art, dim=1), torch.maximum(torch.stack(bg, dim=1), floor[:, None, None])


@functools.lru_cache(maxsize=64)
def _plane_numpy(h: int, w: int, periods: tuple[int, ...], dtype: torch.dtype) -> tuple:
    """What :func:`lattice_energy_numpy` reads: the rows ``ky`` and columns ``kx`` that hold every
    bin of :func:`_plane`, the smooth-component factors on that (Ky, Kx) grid, and for each period
    the peaks', rings' and lines' flat positions in the grid."""
    cpu = torch.device("cpu")
    plane = _plane(h, w, periods, dtype, cpu)
    ky, row = torch.unique(plane.ky, return_inverse=True)
    kx, col = torch.unique(plane.kx, return_inverse=True)
    position = row * len(kx) + col  # each listed bin's place in the (Ky, Kx) grid
    listed = torch.zeros(len(ky) * len(kx), dtype=dtype)
    listed[position] = 1.0
    a, b = smooth_factors(h, w, dtype, cpu)
    grids = tuple(t.numpy() for t in (ky, kx, a[ky][:, kx], b[ky][:, kx], listed))
    per_period = tuple(
        tuple(position[t].numpy() for t in (plane.peaks[i], plane.rings[i], plane.lines[i]))
        for i in range(len(periods))
    )
    axes = tuple(
        tuple(tuple(t.numpy() for t in g) for g in axes) for axes in _axes(h, w, periods, cpu)
    )
    return grids, per_period, axes


def _lower_median(v: np.ndarray) -> np.ndarray:
    """The median along the last axis, the lower of the middle two for an even count (as torch)."""
    i = (v.shape[-1] - 1) // 2
    return np.partition(v, i, axis=-1)[..., i]


def lattice_energy_numpy(x: np.ndarray, periods: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """:func:`lattice_energy` of one image (C, H, W) in NumPy/SciPy: (P, 3) each.

    The row FFTs are taken of every row, but the column FFTs only of the few columns the
    lattices need, together with the column edge jump; the axes are the spectra of the row and
    column sums. A scan scores each image right after decoding it, with cold caches, where
    torch's per-op cost would double the time. Float32 or float64, same preconditions as
    :func:`lattice_energy`, which it matches to rounding.

    Example:
        >>> x = torch.rand(1, 64, 64)
        >>> fast, ref = lattice_energy_numpy(x.numpy(), (2, 4)), lattice_energy(x[None], (2, 4))
        >>> all(np.allclose(f, r[0].numpy(), rtol=1e-4) for f, r in zip(fast, ref))
        True
    """
    h, w = x.shape[-2:]
    dtype = torch.float64 if x.dtype == np.float64 else torch.float32
    (ky, kx, a, b, listed), per_period, axes = _plane_numpy(h, w, periods, dtype)
    # No bin read here is DC, so the mean changes nothing but rounding, which DC would
    # otherwise spread over the faint bins of the rings.
    x = x - x.mean(axis=(1, 2), keepdims=True, dtype=x.dtype)
    r = scipy.fft.rfft(x, axis=2)  # (C, H, W//2+1)
    # Transposed, so that both gathers pick rows: far cheaper than picking columns.
    picked = r.transpose(0, 2, 1)[:, kx]  # (C, Kx, H)
    # The edge jumps less the lcm-periodic part, as edge_jumps takes them.
    m = math.lcm(*periods)
    first, last = (_phases(x[:, i::m].mean(axis=1), m) for i in (0, m - 1))
    rows = picked[:, :, -1] - picked[:, :, 0] - scipy.fft.rfft(np.tile(last - first, w // m))[:, kx]
    first, last = (_phases(x[:, :, i::m].mean(axis=2), m) for i in (0, m - 1))
    jump = (x[:, :, -1] - x[:, :, 0] - np.tile(last - first, h // m)).astype(r.dtype)
    f = scipy.fft.fft(np.concatenate([picked, jump[:, None]], axis=1), axis=2)
    f = f.transpose(0, 2, 1)[:, ky]  # (C, Ky, Kx + 1)
    spec = f[..., :-1] - (a * rows[:, None] + b * f[..., -1:])
    power = (spec.real**2 + spec.imag**2).mean(axis=0).ravel()
    down = _power_numpy(scipy.fft.fft(x.sum(axis=2), axis=1))
    along = _power_numpy(r.sum(axis=1))
    tiny = np.finfo(x.dtype)
    total = power @ listed + down.sum() + along.sum()
    floor = x.dtype.type(max(total * tiny.eps, tiny.tiny))
    down[0] = along[0] = np.inf  # as _without_dc
    art = np.empty((len(periods), len(CLASSES)), dtype=x.dtype)
    bg = np.empty_like(art)
    for i, ((peaks, ring, lines), pair) in enumerate(zip(per_period, axes, strict=True)):
        art[i, 0] = power[peaks].sum()
        line = _lower_median(power[lines]).max(axis=1)
        bg[i, 0] = np.maximum(_lower_median(power[ring]), line).sum() / _LN2
        for j, (spectrum, (top, window, neighbours)) in enumerate(
            zip((down, along), pair, strict=True), 1
        ):
            local = np.maximum(_lower_median(spectrum[neighbours]), floor)
            whitened = (spectrum[window] / local[:, 1:]).max(axis=1)
            art[i, j] = spectrum[top].sum()
            bg[i, j] = (local[:, 0] * np.maximum(whitened, 1 / _LN2)).sum()
    return art, np.maximum(bg, floor)


def _phases(v: np.ndarray, period: int) -> np.ndarray:
    """Means (C, period) of ``v`` (C, n) over each phase ``k mod period``."""
    return v.reshape(v.shape[0], -1, period).mean(axis=1)


def _power_numpy(z: np.ndarray) -> np.ndarray:
    """``|z|**2`` (C, n), averaged over the channels: (n,)."""
    return (z.real**2 + z.imag**2).mean(axis=0)
