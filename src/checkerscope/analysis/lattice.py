"""Peak and background energy on the frequency lattice of a period: what the score measures.

A pattern of period ``p`` puts all of its energy on the bins ``(a*H/p, b*W/p)`` of an image
whose sides are multiples of ``p`` (DC excluded). Those bins are of three kinds (:data:`CLASSES`),
each compared with the background it can be confused with:

- ``"lattice"`` (``a`` and ``b`` non-zero): patterns that vary along both axes, the
  checkerboards of Odena et al. (2016). Power of Moisan's periodic component (so the image's
  edges leave no cross; its smooth part is driven by the edge jumps of the image less its
  lcm(periods)-periodic part, see :func:`edge_jumps`); background: the median of the
  Chebyshev ring ``2 <= |g - f| <= 4`` around the peak, or, if larger, the median along any of
  four lines through it (a row, a column, and the two lines that 45-degree lines and edges in
  the image put through it), over ``ln 2``. A periodic pattern is a point of the spectrum; a
  straight line, edge or staircase is a line of it, which the ring alone would miss. A period
  is scored on its own peaks only: those on the lattice of a smaller period of the set scored
  (for (2, 4, 8): a period-8 pattern's with ``a`` or ``b`` odd) belong to that period, so a
  period-4 pattern does not also score as period 8. The peaks are grouped in shells at the
  same distance from DC (:func:`shells`); each peak is weighed against its own background and
  each shell's peak energy is the sum of its peaks' powers over their backgrounds, times the
  shell's mean background, so that the ratio to the shell's summed background is the mean of
  its peaks' whitened powers. The period's energies are those of the shell where that ratio is
  highest, the peak energy divided by the noise's expected highest ratio
  (:func:`noise_maximum`). Averaging over every peak would dilute a pattern whose energy sits
  on a few: a period-8 checkerboard puts 73% of it on the four peaks nearest DC, of 49.
- ``"rows"`` (``b = 0``) and ``"columns"`` (``a = 0``): patterns that repeat down the rows or
  along the columns. These bins sit on a frequency axis, where every horizontal or vertical
  line, frame, letterbox bar and edge of the image puts energy along the whole axis, so they are
  compared with their own axis only: the power spectrum of the row (column) sums, raw, since an
  enlarged image's exact zeros there must stay zero. Background: the median of the axis bins
  ``2 <= |k - k0| <= 8`` around the peak, raised to the strongest other peak within half a
  lattice step once each bin is divided by its own neighbours' median: content of a longer
  period (lines of text, table rows) puts a comb of peaks there, of which the lattice bin is one.
  Every peak of the period is read here, smaller periods' too: on their own, a period's odd
  peaks would lose the comb's other teeth that raise their background.

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
import scipy.integrate
import scipy.special
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


def _fold(k: torch.Tensor, n: int) -> torch.Tensor:
    """Positions on a length-``n`` axis mapped to the rfft's ``0..n//2`` (same power)."""
    k = k % n
    return torch.where(k > n // 2, n - k, k)


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
def axis_geometry(n: int, p: int) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int]]:
    """Where the period-``p`` background of a length-``n`` axis is read, on its rfft
    (``0..n//2``): the peaks (p-1,), the window ``2 <= |k - k0| <= max(2, n/(2p))`` around each
    (p-1, K), and the radii ``(2, 8)`` of the neighbours whose median whitens each bin
    (see :func:`axis_neighbours`; smaller radii for small ``n``).

    Example:
        >>> peaks, window, radius = axis_geometry(256, 2)
        >>> peaks.tolist(), window.shape, radius
        ([128], torch.Size([1, 126]), (2, 8))
    """
    step = n // p
    r_in, r_out = radii(n, p, AXIS_RING)
    peaks = torch.arange(1, p) * step
    window = peaks[:, None] + _offsets(r_in, max(r_in, step // 2))
    return _fold(peaks, n), _fold(window, n), (r_in, r_out)


@functools.lru_cache(maxsize=128)
def axis_neighbours(n: int, radius: tuple[int, int]) -> torch.Tensor:
    """The bins ``r_in <= |j - k| <= r_out`` around every bin ``k`` of a length-``n`` axis's rfft:
    (n//2 + 1, M) positions on it.

    Example:
        >>> axis_neighbours(16, (1, 2))[0].tolist()  # around DC: its mirror images
        [2, 1, 1, 2]
    """
    k = torch.arange(n // 2 + 1)
    return _fold(k[:, None] + _offsets(*radius), n)


@functools.lru_cache(maxsize=64)
def shells(p: int, smaller: tuple[int, ...] = ()) -> tuple[torch.Tensor, float]:
    """The shell of each period-``p`` lattice peak, in :func:`plane_geometry`'s order
    ((p-1)**2,), and :func:`noise_maximum` of those shells.

    Peak ``(a, b)`` is at ``(min(a, p-a), min(b, p-b))`` lattice steps from DC along the two
    axes; a shell holds the peaks at the same steps in either order, so at the same distance
    from DC in cycles per pixel, whatever the image's sides. Peaks on the lattice of a period
    in ``smaller`` (``a*q`` and ``b*q`` multiples of ``p``) are that period's: shell -1.

    Example:
        >>> shell, noise = shells(4, (2,))  # (2, 2) is period 2's
        >>> shell.view(3, 3).tolist(), round(noise, 3)
        ([[0, 1, 0], [1, -1, 1], [0, 1, 0]], 1.375)
    """
    k = torch.arange(1, p)
    a, b = (t.flatten() for t in torch.meshgrid(k, k, indexing="ij"))
    taken = torch.zeros_like(a, dtype=torch.bool)
    for q in smaller:
        taken |= (a * q % p == 0) & (b * q % p == 0)
    steps = torch.sort(torch.stack([torch.minimum(a, p - a), torch.minimum(b, p - b)], 1), 1)
    shell = torch.unique(steps.values, dim=0, return_inverse=True)[1]
    kept = torch.unique(shell[~taken])
    shell = torch.where(taken, -1, torch.searchsorted(kept, shell))
    # Peaks (a, b) and (p-a, p-b) are one bin (conjugates) in the same shell: count bins once.
    same = torch.minimum(a * p + b, (p - a) * p + (p - b))
    sizes = [len(torch.unique(same[shell == i])) for i in range(len(kept))]
    return shell, noise_maximum(tuple(sizes))


@functools.lru_cache(maxsize=64)
def noise_maximum(sizes: tuple[int, ...]) -> float:
    """The expected highest of independent means of ``sizes[i]`` unit exponentials.

    Under white noise each bin's power over its background is exponential with mean 1 (the
    median over ``ln 2``), so a shell of ``k`` bins has a mean ratio of Gamma(k, 1/k) and the
    highest of a period's shells is on average this: dividing by it keeps noise at about 0 dB.

    Example:
        >>> round(noise_maximum((1,)), 6), round(noise_maximum((2, 2)), 6)
        (1.0, 1.375)
    """

    def below(t: float) -> float:
        return float(np.prod([scipy.special.gammainc(k, k * t) for k in sizes]))

    return float(scipy.integrate.quad(lambda t: 1.0 - below(t), 0.0, np.inf, limit=200)[0])


class _Group(NamedTuple):
    """Lattice peaks of every period whose rings and lines have the same widths."""

    peaks: torch.Tensor  # (L,) positions in the list of bins read
    rings: torch.Tensor  # (L, R)
    lines: torch.Tensor  # (L, 4, M)
    by_shell: torch.Tensor  # (L, S) 0/1: which shell (of every period's) each peak is in


class _Axis(NamedTuple):
    """Where one axis is read, for every period."""

    neighbours: tuple[torch.Tensor, ...]  # per distinct radius: (n//2 + 1, M)
    peaks: tuple[torch.Tensor, ...]  # per period: (p-1,)
    windows: tuple[torch.Tensor, ...]  # per period: (p-1, K)
    radius: tuple[int, ...]  # per period: which of ``neighbours``


class _Geometry(NamedTuple):
    """What :func:`lattice_energy` reads, on one device."""

    bins: torch.Tensor  # (N,) flat rfft2 indices of every lattice bin read
    ky: torch.Tensor  # (N,) their rows
    kx: torch.Tensor  # (N,) their columns
    groups: tuple[_Group, ...]
    axes: tuple[_Axis, _Axis]  # rows (length h), columns (length w)
    shells: tuple[torch.Tensor, ...]  # per period: its shells' indices among the S
    noise: tuple[float, ...]  # per period: noise_maximum of its shells


def _axis(n: int, periods: tuple[int, ...], device: torch.device) -> _Axis:
    parts = [axis_geometry(n, p) for p in periods]
    radii_ = list(dict.fromkeys(radius for *_, radius in parts))
    return _Axis(
        tuple(axis_neighbours(n, r).to(device) for r in radii_),
        tuple(peaks.to(device) for peaks, _, _ in parts),
        tuple(window.to(device) for _, window, _ in parts),
        tuple(radii_.index(radius) for *_, radius in parts),
    )


@functools.lru_cache(maxsize=64)
def geometry(h: int, w: int, periods: tuple[int, ...], device: torch.device) -> _Geometry:
    """Every index :func:`lattice_energy` reads for ``h`` x ``w`` images, on ``device``: a few
    thousand lattice bins, not the whole spectrum, and two axes."""
    owned = [shells(p, tuple(q for q in periods if q < p)) for p in periods]
    parts = [
        [t[shell >= 0] for t in plane_geometry(h, w, p)]
        for p, (shell, _) in zip(periods, owned, strict=True)
    ]
    bins, position = torch.unique(
        torch.cat([t.flatten() for part in parts for t in part]), return_inverse=True
    )
    moved, k = [], 0
    for part in parts:
        moved.append([])
        for t in part:
            moved[-1].append(position[k : k + t.numel()].view(t.shape))
            k += t.numel()
    first = np.cumsum([0] + [int(shell.max()) + 1 for shell, _ in owned])  # shells numbered on
    groups = []
    for widths in dict.fromkeys((r.shape[1], li.shape[2]) for _, r, li in moved):
        members = [i for i, (_, r, li) in enumerate(moved) if (r.shape[1], li.shape[2]) == widths]
        shell = torch.cat([owned[i][0][owned[i][0] >= 0] + first[i] for i in members])
        one_hot = torch.nn.functional.one_hot(shell, int(first[-1])).double()
        groups.append(
            _Group(*(torch.cat([moved[i][j] for i in members]).to(device) for j in range(3)),
                   one_hot.to(device))
        )  # fmt: skip
    half = w // 2 + 1
    axes = (_axis(h, periods, device), _axis(w, periods, device))
    by_period = tuple(torch.arange(first[i], first[i + 1]).to(device) for i in range(len(periods)))
    noise = tuple(n for _, n in owned)
    return _Geometry(bins.to(device), (bins // half).to(device), (bins % half).to(device),
                     tuple(groups), axes, by_period, noise)  # fmt: skip


def _power(z: torch.Tensor) -> torch.Tensor:
    return torch.view_as_real(z).square().sum(dim=-1)


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

    def phases(v: torch.Tensor) -> torch.Tensor:  # (..., n) -> its mean over each phase (..., L)
        return v.unflatten(-1, (-1, period)).mean(dim=-2)

    rows = (x[..., period - 1 :: period, :] - x[..., ::period, :]).mean(dim=-2)
    cols = (x[..., period - 1 :: period] - x[..., ::period]).mean(dim=-1)
    rows = x[..., -1, :] - x[..., 0, :] - phases(rows).tile(w // period)
    cols = x[..., -1] - x[..., 0] - phases(cols).tile(h // period)
    return torch.fft.rfft(rows), torch.fft.fft(cols)


def _axis_energy(
    power: torch.Tensor, axis: _Axis, floor: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Peak and background energies (B, P) of every period on one axis's power (B, n//2 + 1)."""
    # DC holds rounding only (the mean is removed): a median reaching it must ignore it.
    power = torch.cat([torch.full_like(power[:, :1], math.inf), power[:, 1:]], dim=1)
    local = [
        torch.maximum(power[:, nb].median(dim=-1).values, floor[:, None]) for nb in axis.neighbours
    ]
    art, bg = [], []
    for peaks, window, r in zip(axis.peaks, axis.windows, axis.radius, strict=True):
        whitened = (power[:, window] / local[r][:, window]).amax(dim=-1)  # (B, p-1)
        art.append(power[:, peaks].sum(dim=1))
        bg.append((local[r][:, peaks] * torch.clamp(whitened, min=1 / _LN2)).sum(dim=1))
    return torch.stack(art, dim=1), torch.stack(bg, dim=1)


def lattice_energy(x: torch.Tensor, periods: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Peak and background energies (B, P, 3) of images (B, C, H, W), channels' spectra averaged.

    The definition (see the module's docstring): for each period and each of :data:`CLASSES`,
    the peak energy (on the 2-D lattice, that of the period's highest shell of own peaks, each
    peak's power weighed by the shell's mean background over its own, over
    :func:`noise_maximum`) and the summed background, floored relative to the total
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
    g = geometry(h, w, periods, x.device)
    a, b = smooth_factors(h, w, x.dtype, x.device)
    x = x - x.mean(dim=(-2, -1), keepdim=True)  # as lattice_energy_numpy does
    spectrum = torch.fft.rfft2(x)
    rows, cols = edge_jumps(x, math.lcm(*periods))
    periodic = spectrum.flatten(-2)[..., g.bins] - (
        a.flatten()[g.bins] * rows[..., g.kx] + b.flatten()[g.bins] * cols[..., g.ky]
    )
    power = _power(periodic).mean(dim=1)  # (B, N)
    down = _power(spectrum[..., : h // 2 + 1, 0]).mean(dim=1)  # the spectrum of the row sums
    along = _power(spectrum[..., 0, :]).mean(dim=1)  # of the column sums
    tiny = torch.finfo(power.dtype)
    total = power.sum(dim=1) + down.sum(dim=1) + along.sum(dim=1)
    floor = (total * tiny.eps).clamp(min=tiny.tiny)
    art_s = torch.zeros(x.shape[0], g.groups[0].by_shell.shape[1], dtype=power.dtype,
                        device=x.device)  # fmt: skip
    bg_s = torch.zeros_like(art_s)
    for group in g.groups:
        ring = power[:, group.rings].median(dim=-1).values
        lines = power[:, group.lines].median(dim=-1).values.amax(dim=-1)
        local = torch.maximum(torch.maximum(ring, lines) / _LN2, floor[:, None])  # (B, L)
        by_shell = group.by_shell.to(power.dtype)
        level = local @ by_shell  # (B, S): each shell's summed background
        mean = level / by_shell.sum(dim=0).clamp(min=1)
        art_s = art_s + (power[:, group.peaks] * (mean @ by_shell.T) / local) @ by_shell
        bg_s = bg_s + level
    ratio = art_s / bg_s
    art, bg = [], []
    for shell, noise in zip(g.shells, g.noise, strict=True):  # each period's highest shell
        top = ratio[:, shell].argmax(dim=1, keepdim=True)
        art.append(art_s[:, shell].gather(1, top)[:, 0] / noise)
        bg.append(bg_s[:, shell].gather(1, top)[:, 0])
    art, bg = torch.stack(art, dim=1), torch.stack(bg, dim=1)
    axes = [_axis_energy(t, axis, floor) for t, axis in zip((down, along), g.axes, strict=True)]
    art = torch.stack([art, axes[0][0], axes[1][0]], dim=2)
    bg = torch.stack([bg, axes[0][1], axes[1][1]], dim=2)
    return art, torch.maximum(bg, floor[:, None, None])


@functools.lru_cache(maxsize=64)
def _numpy_geometry(h: int, w: int, periods: tuple[int, ...], dtype: torch.dtype) -> tuple:
    """What :func:`lattice_energy_numpy` reads, as NumPy arrays: the rows ``ky`` and columns
    ``kx`` that hold every lattice bin, the smooth-component factors on that (Ky, Kx) grid, a
    0/1 weight of the listed bins, which ``kx`` are multiples of ``w / lcm(periods)``, each
    period's shells and their noise maximum, the groups' positions in the grid, and each axis's
    peaks and windows for all periods at once."""
    cpu = torch.device("cpu")
    g = geometry(h, w, periods, cpu)
    ky, row = torch.unique(g.ky, return_inverse=True)
    kx, col = torch.unique(g.kx, return_inverse=True)
    position = row * len(kx) + col  # each listed bin's place in the (Ky, Kx) grid
    listed = torch.zeros(len(ky) * len(kx), dtype=dtype)
    listed[position] = 1.0
    a, b = smooth_factors(h, w, dtype, cpu)
    m = math.lcm(*periods)
    # The lcm-periodic part of a row is its rfft at multiples of w / m: those of the picked
    # columns, and the weights that turn them into that part's last-minus-first phase.
    comb = torch.nonzero(kx % (w // m) == 0).flatten()
    j = torch.arange(m // 2 + 1, dtype=torch.float64)
    pairs = torch.where((j == 0) | (2 * j == m), 1.0, 2.0)
    weights = (torch.polar(torch.ones_like(j), 2 * math.pi * j * (m - 1) / m) - 1) * pairs / w
    grid = (ky, kx, a[ky][:, kx], b[ky][:, kx], listed, comb, weights)
    groups = tuple(
        (position[gr.peaks], position[gr.rings], position[gr.lines], gr.by_shell.to(dtype))
        for gr in g.groups
    )
    grid = (*grid, g.shells, torch.tensor(g.noise, dtype=dtype))
    sets = []
    for axis in g.axes:
        # Windows padded to one width by repeating their first bin, which leaves the max as it is.
        width = max(window.shape[1] for window in axis.windows)
        windows = torch.cat(
            [torch.cat([t, t[:, :1].expand(-1, width - t.shape[1])], dim=1) for t in axis.windows]
        )
        radius = torch.cat(
            [torch.full((len(t),), r) for t, r in zip(axis.peaks, axis.radius, strict=True)]
        )
        owner = torch.cat([torch.full((len(t),), i) for i, t in enumerate(axis.peaks)])
        by_period = torch.nn.functional.one_hot(owner, len(periods)).to(dtype)
        sets.append(
            [[len(sets) + 1], axis.neighbours, torch.cat(axis.peaks), windows, radius, by_period]
        )
    if h == w:  # both axes read the same bins: one pass over both
        sets = [[torch.tensor([1, 2]), *sets[0][1:]]]

    def as_numpy(v: object) -> object:
        if isinstance(v, torch.Tensor):
            return v.numpy()
        return tuple(as_numpy(u) for u in v) if isinstance(v, tuple | list) else v

    return as_numpy(grid), as_numpy(groups), as_numpy(sets)


def _lower_median(v: np.ndarray) -> np.ndarray:
    """The median along the last axis, the lower of the middle two for an even count (as torch)."""
    i = (v.shape[-1] - 1) // 2
    return np.partition(v, i, axis=-1)[..., i]


def lattice_energy_numpy(
    x: np.ndarray, periods: tuple[int, ...], scale: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`lattice_energy` of one image (C, H, W) times ``scale``, in NumPy/SciPy: (P, 3) each.

    The row FFTs are taken of every row, but the column FFTs only of the few columns the
    lattices need, together with the column edge jump; the axes are the spectra of the row and
    column sums, read off the row FFTs. A scan scores each image right after decoding it, with
    cold caches, where torch's per-op cost would double the time. Float32 or float64, same
    preconditions as :func:`lattice_energy`, which it matches to rounding; ``scale`` is applied
    after the mean is removed (a power of two, it is exact).

    Example:
        >>> x = torch.rand(1, 64, 64)
        >>> fast, ref = lattice_energy_numpy(x.numpy(), (2, 4)), lattice_energy(x[None], (2, 4))
        >>> all(np.allclose(f, r[0].numpy(), rtol=1e-4) for f, r in zip(fast, ref))
        True
    """
    c, h, w = x.shape
    dtype = torch.float64 if x.dtype == np.float64 else torch.float32
    (ky, kx, a, b, listed, comb, weights, period_shells, noise), groups, sets = _numpy_geometry(
        h, w, periods, dtype
    )
    # No bin read here is DC, so the mean changes nothing but rounding, which DC would
    # otherwise spread over the faint bins of the rings.
    x = x - x.mean(axis=(1, 2), keepdims=True, dtype=x.dtype)
    if scale != 1.0:
        x *= x.dtype.type(scale)
    r = scipy.fft.rfft(x, axis=2)  # (C, H, W//2+1)
    # Transposed, so that both gathers pick rows: far cheaper than picking columns.
    picked = r.transpose(0, 2, 1)[:, kx]  # (C, Kx, H)
    # The edge jumps less the lcm-periodic part, as edge_jumps takes them: that part of the
    # rows' jump is its rfft at multiples of w / m; of the columns', read off those of each row.
    m = math.lcm(*periods)
    rows = picked[:, :, -1] - picked[:, :, 0]
    rows[:, comb] -= (picked[:, comb, m - 1 :: m] - picked[:, comb, ::m]).mean(axis=2)
    phases = (r[:, :, :: w // m] @ weights).real.reshape(c, -1, m).mean(axis=1)  # (C, m)
    jump = x[:, :, -1] - x[:, :, 0]
    jump = (jump.reshape(c, -1, m) - phases[:, None]).reshape(c, 1, h).astype(r.dtype)
    f = scipy.fft.fft(np.concatenate([picked, jump], axis=1), axis=2)
    f = f.transpose(0, 2, 1)[:, ky]  # (C, Ky, Kx + 1)
    spec = f[..., :-1] - (a * rows[:, None] + b * f[..., -1:])
    power = (spec.real**2 + spec.imag**2).mean(axis=0).ravel()
    # The spectra of the row sums and of the column sums.
    sums = (r[:, :, 0].real, x.sum(axis=1))
    if h == w:
        both = scipy.fft.rfft(np.concatenate(sums), axis=1)
        spectra = (both.real**2 + both.imag**2).reshape(2, c, -1).mean(axis=1)
    else:
        spectra = [_power_numpy(scipy.fft.rfft(v, axis=1)) for v in sums]
    tiny = _TINY[x.dtype.type]
    total = power @ listed + spectra[0].sum() + spectra[1].sum()
    floor = x.dtype.type(max(total * tiny.eps, tiny.tiny))
    art = np.zeros((len(CLASSES), len(periods)), dtype=x.dtype)
    bg = np.zeros_like(art)
    art_s = np.zeros(groups[0][3].shape[1], dtype=x.dtype)
    bg_s = np.zeros_like(art_s)
    for peaks, ring, lines, by_shell in groups:
        line = _lower_median(np.take(power, lines)).max(axis=1)
        local = np.maximum(np.maximum(_lower_median(np.take(power, ring)), line) / _LN2, floor)
        level = local @ by_shell
        mean = level / np.maximum(by_shell.sum(axis=0), 1)
        art_s += (np.take(power, peaks) * (by_shell @ mean) / local) @ by_shell
        bg_s += level
    ratio = art_s / bg_s
    for i, shell in enumerate(period_shells):  # each period's highest shell
        top = shell[ratio[shell].argmax()]
        art[0, i], bg[0, i] = art_s[top] / noise[i], bg_s[top]
    for classes, neighbours, tops, windows, radius, by_period in sets:
        spectrum = np.array([spectra[i - 1] for i in classes])  # (A, n//2 + 1), a copy
        spectrum[:, 0] = np.inf  # as _axis_energy
        local = [
            np.maximum(_lower_median(np.take(spectrum, nb, axis=1)), floor) for nb in neighbours
        ]
        if len(local) == 1:  # one radius for every period, as from 16 bins per step up
            at_windows, at_tops = np.take(local[0], windows, axis=1), np.take(local[0], tops, 1)
        else:
            local = np.stack(local, axis=1)  # (A, radii, n//2 + 1)
            at_windows, at_tops = local[:, radius[:, None], windows], local[:, radius, tops]
        whitened = (np.take(spectrum, windows, axis=1) / at_windows).max(axis=2)
        art[classes] = np.take(spectrum, tops, axis=1) @ by_period
        bg[classes] = (at_tops * np.maximum(whitened, 1 / _LN2)) @ by_period
    return art.T.copy(), np.maximum(bg, floor).T.copy()


_TINY = {t: np.finfo(t) for t in (np.float32, np.float64)}


def _power_numpy(z: np.ndarray) -> np.ndarray:
    """``|z|**2`` (C, n), averaged over the channels: (n,)."""
    power = z.real**2 + z.imag**2
    return power[0] if len(power) == 1 else power.mean(axis=0)
