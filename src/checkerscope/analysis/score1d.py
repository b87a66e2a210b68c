"""The checkerboard score of signals (waveforms, 1-D feature maps): a tone at multiples of fs/p.

The 1-D counterpart of :func:`checkerscope.analysis.checkerboard_score`. A stride-``s``
transposed convolution in an audio upsampler paints a pattern that repeats every ``s`` samples
(Odena et al. 2016), heard as tones at ``fs/s`` and its multiples; stacked x2 layers repeat it
every 2, 4, 8 ... samples. A period-``p`` pattern lives on the bins ``b * L / p`` of a length-L
spectrum, so the score is the same peak-to-local-background ratio on that lattice.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import torch

from checkerscope import checks as v
from checkerscope.analysis.score import PERIODS, to_decibels
from checkerscope.analysis.spectra import as_batch
from checkerscope.analysis.welch import tile_starts, unit_scale

TILE = 16384
"""Length of the windows whose spectra are averaged (Welch). A 256 x 256 image tile spreads a
period-``p`` pattern over ``p**2 - 1`` lattice bins, a 1-D tile over ``p - 1``; with a quarter
of its 65536 pixels, a pattern with the same power per sample over the same white background
scores within about 4 dB of the 2-D score for p = 2, 4, 8 (the ratios 3/4, 5/4, 9/4), so the
2-D threshold reads on the same scale."""

_RING = 32  # outer radius, in bins, of the background ring: 62 bins, as many as the 2-D ring's 72
_INNER = 2  # inner radius: a peak leaking into its neighbours must not be its own background


def _periods(periods: Sequence[int] | None, n: int) -> tuple[int, ...]:
    if periods is None:
        periods = tuple(p for p in PERIODS if 2 * p <= n)
        if not periods:
            raise ValueError(
                f"x must be at least 4 samples long to hold a period-2 pattern, got {n}"
            )
        return periods
    periods = tuple(v.positive_int("periods", p) for p in periods)
    if not periods or any(p < 2 for p in periods):
        raise ValueError(f"periods must be integers >= 2, got {periods!r}")
    too_big = [p for p in periods if 2 * p > n]
    if too_big:
        raise ValueError(
            f"periods {too_big} need signals at least {2 * max(too_big)} samples long, got {n}"
        )
    return periods


@functools.lru_cache(maxsize=64)
def _lattice(n: int, p: int) -> tuple[torch.Tensor, torch.Tensor]:
    """rfft indices of the period-``p`` peaks (p-1,) and of each one's ring (p-1, R).

    Bins past n/2 are mapped to their mirror ``n - k``, which has the same power.
    """
    r_out = min(_RING, n // p // 2)
    r_in = min(_INNER, r_out)
    d = torch.arange(-r_out, r_out + 1)
    d = d[d.abs() >= r_in]
    k = torch.arange(1, p) * (n // p)

    def fold(i: torch.Tensor) -> torch.Tensor:
        i = i % n
        return torch.where(i > n // 2, n - i, i)

    return fold(k), fold(k[:, None] + d)


def periodic_rfft(x: torch.Tensor) -> torch.Tensor:
    """``torch.fft.rfft`` of the periodic component of ``x`` (..., L) (Moisan 2011, in 1-D).

    The jump ``J = x[-1] - x[0]`` between the ends would leak a 1/f slope over the whole
    spectrum; the smooth component solves the periodic Laplace equation driven by it, with
    transform ``J (1 - e^{2 pi i k / L}) / (2 cos(2 pi k / L) - 2)`` (0 at k = 0).

    Example:
        >>> periodic_rfft(torch.randn(3, 100)).shape
        torch.Size([3, 51])
    """
    n = x.shape[-1]
    real = torch.float64 if x.dtype == torch.float64 else torch.float32
    k = torch.arange(n // 2 + 1, device=x.device, dtype=real)
    angle = 2 * math.pi * k / n
    # (1 - e^{i a}) / (2 cos a - 2) = i e^{i a/2} / (2 sin(a/2)): the same factor without the
    # cancellation that makes 2 cos a - 2 round to 0 for low bins of long float32 signals
    # (an infinite factor there gives NaN gradients even though those bins are never read).
    half = torch.sin(angle / 2)
    half[0] = 1.0
    factor = 1j * torch.polar(torch.ones_like(k), angle / 2) / (2 * half)
    factor[0] = 0
    jump = (x[..., -1] - x[..., 0]).unsqueeze(-1)
    return torch.fft.rfft(x) - factor * jump


def artifact_energy_1d(
    x: torch.Tensor, periods: Sequence[int] = PERIODS, tile: int | None = TILE
) -> tuple[torch.Tensor, torch.Tensor]:
    """Energy on each period's peak lattice and the energy expected there from the background.

    ``x``: (B, C, L) or (C, L). Returns two (B, len(periods)) tensors: the summed power at the
    peaks and the summed background estimate (median of each peak's ring / ln 2), channels'
    power spectra averaged, summed over the ``tile``-long windows that cover the signal.

    Example:
        >>> art, bg = artifact_energy_1d(torch.randn(2, 1, 1000), periods=(2, 4))
        >>> art.shape
        torch.Size([2, 2])
    """
    x = as_batch("x", x, 1)
    length = x.shape[-1]
    t = length if tile is None else min(v.positive_int("tile", tile), length)
    periods = _periods(periods, t)
    # As the 2-D score: each signal at unit scale (exact, a power of two), non-finite ones NaN.
    scale, finite = unit_scale(x)
    x = torch.where(finite[:, None, None], x, 0) * scale.to(x.dtype)[:, None, None]
    m = math.lcm(*periods)
    n = t // m * m
    starts = tile_starts(length, t)
    windows = torch.stack([x[..., s : s + n] for s in starts])  # (T, B, C, n)
    power = torch.view_as_real(periodic_rfft(windows)).square().sum(-1).mean(dim=2)  # (T, B, K)
    art, bg, read = [], [], []
    for p in periods:
        peak, ring = _lattice(n, p)
        peak, ring = peak.to(x.device), ring.to(x.device)
        art.append(power[..., peak].sum(-1).sum(0))
        bg.append((power[..., ring].median(dim=-1).values.sum(-1) / math.log(2)).sum(0))
        read += [peak, ring.flatten()]
    art_t, bg_t = torch.stack(art, dim=1), torch.stack(bg, dim=1)
    # A signal without any texture has no background; a floor relative to the power of the
    # bins read (DC is never one: a large mean or slope must not lift the floor) keeps the
    # ratio finite.
    tiny = torch.finfo(power.dtype)
    total = power[..., torch.unique(torch.cat(read))].sum(dim=(0, 2))
    floor = (total[:, None] * tiny.eps).clamp(min=tiny.tiny)
    nan = torch.tensor(math.nan, dtype=art_t.dtype, device=art_t.device)
    keep = finite.to(art_t.device)[:, None]
    return torch.where(keep, art_t, nan), torch.where(keep, torch.maximum(bg_t, floor), nan)


def period_scores_1d(
    x: torch.Tensor, periods: Sequence[int] | None = None, tile: int | None = TILE
) -> torch.Tensor:
    """The 1-D checkerboard score of each period separately: (B, C, L) -> (B, len(periods)) dB.

    ``periods=None`` takes those of (2, 4, 8) that fit (``2 * p`` samples per tile).

    Example:
        >>> period_scores_1d(torch.randn(1, 1, 512)).shape
        torch.Size([1, 3])
    """
    x = as_batch("x", x, 1)
    if periods is None:
        n = x.shape[-1] if tile is None else min(v.positive_int("tile", tile), x.shape[-1])
        periods = _periods(None, n)
    return to_decibels(*artifact_energy_1d(x, periods, tile))


def checkerboard_score_1d(
    x: torch.Tensor, period: int | None = None, tile: int | None = TILE
) -> torch.Tensor:
    """How far a period-``p`` tone stands above the spectrum around it, in dB: (B, C, L) -> (B,).

    With ``P`` the power spectrum (channels averaged) of the periodic component of a window
    (:func:`periodic_rfft`) and the lattice ``L_p = {b L / p : 0 < b < p}``::

        score_p = 10 * log10( sum_t sum_{f in L_p} P_t(f) / sum_t sum_{f in L_p} B_t(f) ),
        B_t(f)  = median of P_t over the ring 2 <= |g - f| <= 32 bins around f, / ln 2,

    floored at 0 dB: the 2-D formula of :func:`checkerscope.analysis.checkerboard_score` on
    one axis, with a ring of 62 bins (the 2-D ring has 72) and :data:`TILE`-sample windows
    ``t`` (``tile=None``: the whole signal). ``period=None``: the maximum over (2, 4, 8).
    Unchanged by ``a * x + b`` for scalars ``a != 0``, at any scale in float32 (each signal is
    brought to unit scale by a power of two first); a signal with a NaN or infinite value
    scores NaN, the others of the batch as they would alone. Period 2 rests on one bin (Nyquist, a
    chi-square variable with one degree of freedom), so white noise alone scores above 6 dB
    in a few percent of single short signals (above 12 dB in about 1 in 10^4); averaging
    channels, signals or windows narrows that.

    Example:
        >>> x = torch.randn(1, 1, 4096)
        >>> x[..., ::2] += 1.0  # a tone at half the sampling rate
        >>> bool(checkerboard_score_1d(x, period=2) > 20)
        True
    """
    periods = None if period is None else (v.positive_int("period", period),)
    return period_scores_1d(x, periods, tile).amax(dim=1)
