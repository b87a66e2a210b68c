"""Peak and background energy on the frequency lattice of a period: what the score measures.

A pattern of period ``p`` puts all of its energy on the rfft2 bins ``(a*H/p, b*W/p)`` of an
image whose sides are multiples of ``p`` (DC excluded). The energy the image would hold there
without a pattern is estimated from a ring of bins around each peak (median / ln 2). Spectra
are those of Moisan's periodic component (:mod:`checkerscope.analysis.spectra`), read only at
the bins the lattices and rings need: a few thousand, not the whole spectrum.

One definition, two implementations: :func:`lattice_energy` (torch; batches, any float dtype
and device, differentiable) is the definition; :func:`lattice_energy_single` (NumPy/SciPy, one
float32 image) is the fast path that a scan takes once per file; :func:`window_energy` crops
and picks one. :mod:`checkerscope.analysis.score` checks arguments, tiles and converts to dB.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import scipy.fft
import torch

from checkerscope.analysis.spectra import edge_jumps, smooth_factors

RING = 4
"""Outer Chebyshev radius, in bins, of the background ring around each peak."""


@functools.lru_cache(maxsize=128)
def _lattice(h: int, w: int, p: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat rfft2 indices of the period-``p`` peaks (L,) and of each one's background ring (L, R).

    Peaks are the bins ``(a*h/p, b*w/p)`` (``h``, ``w`` multiples of ``p``), DC excluded, on the
    full spectrum; bins beyond the rfft half-plane are mapped to their conjugates, which have the
    same power, so every peak and ring counts with the weight it has in the full spectrum.
    """
    r_out = min(RING, min(h, w) // p // 2)
    r_in = 2 if r_out >= 3 else 1  # a peak spread over its 3x3 block must not be its own background
    half = w // 2 + 1
    d = torch.arange(-r_out, r_out + 1)
    dy, dx = (t.flatten() for t in torch.meshgrid(d, d, indexing="ij"))
    ring = torch.maximum(dy.abs(), dx.abs()) >= r_in
    dy, dx = dy[ring], dx[ring]
    grid = torch.meshgrid(torch.arange(p), torch.arange(p), indexing="ij")
    a, b = (t.flatten()[1:] for t in grid)
    ky, kx = a * (h // p), b * (w // p)

    def flat(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        y, x = y % h, x % w
        mirror = x >= half
        y = torch.where(mirror, (-y) % h, y)
        x = torch.where(mirror, w - x, x)
        return y * half + x

    return flat(ky, kx), flat(ky[:, None] + dy, kx[:, None] + dx)


@functools.lru_cache(maxsize=64)
def _lattice_bins(
    h: int, w: int, periods: tuple[int, ...], dtype: torch.dtype, device: torch.device
) -> tuple[torch.Tensor, ...]:
    """What :func:`lattice_energy` reads, on ``device``: the rfft2 bins it needs (N,), their
    rows and columns, the smooth-component factors there, the positions in that list of all
    peaks (L,), a (L, P) matrix that sums per period, and the rings (L, R) of each period (one
    tensor for all when their widths agree, as they do from 64 pixels up). A few thousand
    bins, not the whole spectrum.
    """
    lattices = [_lattice(h, w, p) for p in periods]
    flat = torch.cat([torch.cat([peak, ring.flatten()]) for peak, ring in lattices])
    bins, position = torch.unique(flat, return_inverse=True)
    peaks, rings, owner, k = [], [], [], 0
    for i, (peak, ring) in enumerate(lattices):
        peaks.append(position[k : k + len(peak)])
        rings.append(position[k + len(peak) : k + len(peak) + ring.numel()].view(ring.shape))
        k += len(peak) + ring.numel()
        owner += [i] * len(peak)
    if len({r.shape[1] for r in rings}) == 1:
        rings = [torch.cat(rings)]
    half = w // 2 + 1
    a, b = smooth_factors(h, w, dtype, device)
    bins = bins.to(device)
    real = torch.float64 if dtype == torch.float64 else torch.float32
    by_period = torch.nn.functional.one_hot(torch.tensor(owner), len(periods)).to(device, real)
    return (
        bins,
        bins // half,
        bins % half,
        a.flatten()[bins],
        b.flatten()[bins],
        torch.cat(peaks).to(device),
        by_period,
        *(r.to(device) for r in rings),
    )


@functools.lru_cache(maxsize=64)
def _lattice_bins_numpy(h: int, w: int, periods: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    """What :func:`lattice_energy_single` reads, as float32 NumPy arrays: the rows ``ky`` and
    columns ``kx`` that hold every bin :func:`_lattice_bins` lists, the smooth-component
    factors on that (Ky, Kx) grid, a 0/1 weight (Ky * Kx,) of the listed bins, the peaks' flat
    positions in the grid, the per-period sum matrices, and the rings' positions (L, R) in the
    grid.
    """
    cpu = torch.device("cpu")
    bins, _, _, _, _, peaks, by_period, *rings = _lattice_bins(h, w, periods, torch.float32, cpu)
    half = w // 2 + 1
    ky, row = torch.unique(bins // half, return_inverse=True)
    kx, col = torch.unique(bins % half, return_inverse=True)
    position = row * len(kx) + col  # each listed bin's place in the (Ky, Kx) grid
    listed = torch.zeros(len(ky) * len(kx))
    listed[position] = 1.0
    a, b = smooth_factors(h, w, torch.float32, cpu)
    return tuple(
        t.numpy()
        for t in (
            ky,
            kx,
            a[ky][:, kx],
            b[ky][:, kx],
            listed,
            position[peaks],
            by_period,
            by_period / math.log(2),
            *(position[r] for r in rings),
        )
    )


def lattice_energy(x: torch.Tensor, periods: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Peak and background energies (B, P) of images (B, C, H, W), channels' spectra averaged.

    The definition: for each period, the summed power of the periodic component at the
    lattice's peaks, and the summed background (median of each peak's ring / ln 2, floored
    relative to the total power so that a flat image stays finite). ``x`` is float32 or
    float64 with sides that are multiples of every period, each at least twice the largest;
    ``periods`` are distinct integers >= 2 (arguments are checked by the score's entry
    points, :func:`checkerscope.analysis.score.artifact_energy` and its callers).

    Example:
        >>> art, bg = lattice_energy(torch.rand(2, 1, 64, 64), (2, 4))
        >>> art.shape, bool((bg > 0).all())
        (torch.Size([2, 2]), True)
    """
    h, w = x.shape[-2:]
    bins, ky, kx, a, b, peaks, by_period, *rings = _lattice_bins(h, w, periods, x.dtype, x.device)
    x = x - x.mean(dim=(-2, -1), keepdim=True)  # as in lattice_energy_single
    rows, cols = edge_jumps(x)
    spec = torch.fft.rfft2(x).flatten(-2)[..., bins] - (a * rows[..., kx] + b * cols[..., ky])
    power = torch.view_as_real(spec).square().sum(dim=-1).mean(dim=1)  # (B, N)
    art = power[:, peaks] @ by_period
    medians = torch.cat([power[:, ring].median(dim=-1).values for ring in rings], dim=1)
    bg = medians @ by_period / math.log(2)
    # An image without any texture has no background; a relative floor keeps the ratio finite.
    tiny = torch.finfo(power.dtype)
    floor = (power.sum(dim=1, keepdim=True) * tiny.eps).clamp(min=tiny.tiny)
    return art, torch.maximum(bg, floor)


def lattice_energy_single(
    x: torch.Tensor, periods: tuple[int, ...]
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`lattice_energy` of one float32 CPU image (H, W), in fewer, smaller ops: (1, P).

    The row FFTs are taken of every row, but the column FFTs only of the few columns the
    lattices need, together with the column edge jump. In NumPy/SciPy: a scan scores each
    image right after decoding it, with cold caches, where torch's per-op cost doubles.
    Same preconditions as :func:`lattice_energy`; agrees with it to float32 rounding.

    Example:
        >>> x = torch.rand(64, 64)
        >>> fast, ref = lattice_energy_single(x, (2, 4)), lattice_energy(x[None, None], (2, 4))
        >>> all(torch.allclose(f, r, rtol=1e-4) for f, r in zip(fast, ref))
        True
    """
    h, w = x.shape
    ky, kx, a, b, listed, peaks, by_period, by_period_bg, *rings = _lattice_bins_numpy(
        h, w, periods
    )
    # No bin read here is DC, so the mean changes nothing but float32 rounding, which DC
    # would otherwise spread over the faint bins of the rings.
    x = x.numpy()
    x = x - x.mean()
    # Transposed, so that both gathers pick rows: far cheaper than picking columns.
    r = scipy.fft.rfft(x, axis=1).T[kx]  # (Kx, H)
    jump = (x[:, -1] - x[:, 0]).astype(np.complex64)
    f = scipy.fft.fft(np.concatenate([r, jump[None]]), axis=1).T[ky]  # (Ky, Kx + 1)
    spec = f[:, :-1] - (a * (r[:, -1] - r[:, 0]) + b * f[:, -1:])
    power = (spec.real**2 + spec.imag**2).ravel()
    art = power[peaks] @ by_period
    medians = []
    for ring in rings:
        i = (ring.shape[1] - 1) // 2  # the lower median, as torch.median takes it
        medians.append(np.partition(power[ring], i, axis=1)[:, i])
    tiny = np.finfo(np.float32)
    floor = max(float(power @ listed) * float(tiny.eps), float(tiny.tiny))
    bg = np.maximum(np.concatenate(medians) @ by_period_bg, np.float32(floor))
    return torch.from_numpy(art[None]), torch.from_numpy(bg[None])


def window_energy(x: torch.Tensor, periods: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Energies (B, P) of images (B, C, H, W), each cropped to a multiple of ``lcm(periods)``.

    One float32 CPU image of one channel without gradients (what a scan scores) takes
    :func:`lattice_energy_single`; everything else :func:`lattice_energy`.

    Example:
        >>> art, bg = window_energy(torch.rand(1, 1, 70, 70), (2, 4, 8))
        >>> art.shape
        torch.Size([1, 3])
    """
    m = math.lcm(*periods)
    h, w = x.shape[-2] // m * m, x.shape[-1] // m * m
    x = x[..., :h, :w]
    one = x.shape[:2] == (1, 1) and x.dtype == torch.float32 and x.device.type == "cpu"
    if one and not x.requires_grad:
        return lattice_energy_single(x[0, 0], periods)
    return lattice_energy(x, periods)
