"""The tone score of sound: how far the tones of a stride-s upsampler stand above the spectrum.

Pons, Pascual, Cengarle & Serra (2021), "Upsampling artifacts in neural audio synthesis",
ICASSP: a transposed or sub-pixel convolution with stride ``s`` paints a pattern that repeats
every ``s`` samples, heard as tones at ``a * fs / s`` (``0 < a < s``, folded to at most
``fs / 2``); stacked x2 layers repeat it every 2, 4, 8 ... samples. Those tones are exact DFT
bins of a window whose length is a multiple of every stride, so each is scored as
:func:`checkerscope.analysis.score1d.checkerboard_score_1d` scores a period: its power over
the median of a ring of bins around it (/ ln 2), summed over windows (Welch). This module
scores each tone frequency on its own and reports it in Hz; the per-stride sums over the
lattice ``{a * fs / p}`` reproduce :func:`~checkerscope.analysis.score1d.period_scores_1d`.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import NamedTuple

import torch

from checkerscope import checks as v
from checkerscope.analysis.score import PERIODS, to_decibels
from checkerscope.analysis.spectra import as_batch
from checkerscope.analysis.welch import tile_starts

TILE = 32768
"""Length of the windows whose spectra are summed: twice the 1-D checkerboard score's, 0.68 s
at 48 kHz. Music changes within a fraction of a second (notes, vibrato sweeping a harmonic
across a tone frequency), an upsampler's tones do not: each doubling of the window lifts a
steady tone 3 dB against its background and spreads a passing line over more bins. On the
embedded sounds, 16384-sample windows let a few clean melodies pass 12 dB, these none (see
``tests/analysis/test_tones.py``)."""

RING = 32
"""Outer radius, in bins, of each tone's background ring, as in the 1-D checkerboard score
(at most half the spacing ``n / lcm(strides)`` of neighbouring tones in short windows)."""

INNER = 2
"""Inner radius of the ring: a tone leaking into its neighbours must not be its own background."""

CHUNK = 2**22
"""Samples transformed at once (windows x items x channels), so memory stays flat in L."""


def tone_strides(window: int, strides: Sequence[int] | None = None) -> tuple[int, ...]:
    """The strides scored in windows of ``window`` samples: checked, or those of (2, 4, 8) that fit.

    A window is cropped to a multiple of the strides' lcm ``M`` and must keep at least ``2 M``
    samples, so that every tone is a bin with a background ring around it.

    Example:
        >>> tone_strides(16384), tone_strides(10), tone_strides(100, [3, 2])
        ((2, 4, 8), (2, 4), (3, 2))
    """
    window = v.positive_int("window", window)
    if strides is None:
        strides = tuple(p for p in PERIODS if 2 * p <= window)
        if not strides:
            raise ValueError(
                f"x must be at least 4 samples long to hold a stride-2 tone, got {window}"
            )
        return strides
    if isinstance(strides, str) or not isinstance(strides, Sequence):
        raise ValueError(f"strides must be a sequence of integers >= 2, got {strides!r}")
    strides = tuple(v.positive_int("strides", p) for p in strides)
    if not strides or any(p < 2 for p in strides):
        raise ValueError(f"strides must be integers >= 2, got {strides!r}")
    m = math.lcm(*strides)
    if window < 2 * m:
        raise ValueError(
            f"strides {strides!r} need windows of at least {2 * m} samples (twice their lcm "
            f"{m}), got {window}"
        )
    return strides


def tone_lattice(strides: Sequence[int]) -> tuple[Fraction, ...]:
    """The distinct tone frequencies of ``strides``, as fractions of the sampling rate.

    The fractions ``a / p`` for every stride ``p`` and ``0 < a < p``, folded to ``(0, 1/2]``
    (``a / p`` and ``1 - a / p`` are one frequency of a real signal), sorted. A tone's
    reduced denominator is the period of the pattern it belongs to.

    Example:
        >>> [str(q) for q in tone_lattice((2, 4, 8))]
        ['1/8', '1/4', '3/8', '1/2']
    """
    fractions = {min(Fraction(a, p), 1 - Fraction(a, p)) for p in strides for a in range(1, p)}
    return tuple(sorted(fractions))


@functools.lru_cache(maxsize=64)
def _bins(n: int, strides: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The rfft bins read (N,), and the positions in that list of the tones (F,) and of each
    tone's ring (F, R).

    ``n`` is a multiple of the strides' lcm; ring bins past ``n / 2`` are mirrored to
    ``n - k``, which has the same power. No bin read is DC: the rings stop halfway to the
    neighbouring tone.
    """
    lattice = tone_lattice(strides)
    r_out = min(RING, n // math.lcm(*strides) // 2)
    d = torch.arange(-r_out, r_out + 1)
    d = d[d.abs() >= min(INNER, r_out)]
    peak = torch.tensor([int(q * n) for q in lattice])
    ring = (peak[:, None] + d) % n
    ring = torch.where(ring > n // 2, n - ring, ring)
    read = torch.unique(torch.cat([peak, ring.flatten()]))
    return read, torch.searchsorted(read, peak), torch.searchsorted(read, ring)


def periodic_bins(windows: torch.Tensor, bins: torch.Tensor) -> torch.Tensor:
    """Bins ``k`` (N,) of the rfft of the periodic component of (..., n) ``windows``, k >= 1.

    Moisan's smooth component of a 1-D signal has the transform ``J (1 - e^{i t}) /
    (2 cos t - 2) = J i e^{i t / 2} / (2 sin(t / 2))``, ``t = 2 pi k / n`` and ``J`` the jump
    ``x[-1] - x[0]``, as in :func:`~checkerscope.analysis.score1d.periodic_rfft`; the second
    form has no ``1 - cos`` that float32 rounds to 0 for low bins of long windows, whose
    infinite factor would turn every gradient into NaN even unread.

    Example:
        >>> x, bins = torch.linspace(0, 1, 64), torch.arange(1, 33)  # a ramp's jump leaks ...
        >>> round(float(torch.fft.rfft(x)[bins].abs().max()), 2)
        10.35
        >>> round(float(periodic_bins(x, bins).abs().max()), 2)  # ... its periodic part's not
        0.16
    """
    n = windows.shape[-1]
    real = torch.float64 if windows.dtype == torch.float64 else torch.float32
    half = math.pi * bins.to(real) / n
    factor = 1j * torch.polar(torch.ones_like(half), half) / (2 * torch.sin(half))
    jump = (windows[..., -1] - windows[..., 0]).unsqueeze(-1)
    return torch.fft.rfft(windows)[..., bins] - factor * jump


@dataclass(frozen=True)
class ToneEnergy:
    """Power at each tone and its background, summed over windows; ``a + b`` sums two parts.

    ``peak``, ``background`` (B, F): power at each frequency of :func:`tone_lattice` and the
    ring estimate (median / ln 2); ``total`` (B,): power of every bin read (it sets the floor
    that keeps silence finite); ``finite`` (B,): whether every sample was finite; ``strides``.
    """

    peak: torch.Tensor
    background: torch.Tensor
    total: torch.Tensor
    finite: torch.Tensor
    strides: tuple[int, ...]

    def __add__(self, other: ToneEnergy) -> ToneEnergy:
        if not isinstance(other, ToneEnergy) or other.strides != self.strides:
            got = other.strides if isinstance(other, ToneEnergy) else type(other).__name__
            raise ValueError(f"only tone energies of strides {self.strides} add up, got {got}")
        return ToneEnergy(
            self.peak + other.peak,
            self.background + other.background,
            self.total + other.total,
            self.finite & other.finite,
            self.strides,
        )


def _window_energy(windows: torch.Tensor, strides: tuple[int, ...]) -> ToneEnergy:
    """:class:`ToneEnergy` of (T, B, C, n) windows, ``n`` a multiple of the strides' lcm."""
    finite = torch.isfinite(windows).flatten(2).all(-1)  # (T, B)
    windows = torch.where(finite[..., None, None], windows, 0)
    # The mean only moves DC, never read; removing it keeps float32 spectra exact under offsets.
    windows = windows - windows.mean(-1, keepdim=True)
    read, peak, ring = (i.to(windows.device) for i in _bins(windows.shape[-1], strides))
    spectrum = periodic_bins(windows, read)
    power = torch.view_as_real(spectrum).square().sum(-1).mean(dim=2)  # (T, B, N)
    background = power[..., ring].median(dim=-1).values / math.log(2)
    return ToneEnergy(
        power[..., peak].sum(0),
        background.sum(0),
        power.sum(dim=(0, 2)),
        finite.all(0),
        strides,
    )


def tone_energy(
    x: torch.Tensor, strides: Sequence[int] | None = None, tile: int | None = TILE
) -> ToneEnergy:
    """Tone and background power of waveforms, summed over ``tile``-sample windows (Welch).

    ``x``: (B, C, L) or (C, L). The windows are those of
    :func:`~checkerscope.analysis.welch.tile_starts` (``tile=None``: the whole signal), each
    cropped to a multiple of the strides' lcm; they are transformed a few at a time, so memory
    does not grow with L beyond the input. Energies of separate windows add: a long file can
    be read one window at a time and scored with :func:`score_tones` of the sum.

    Example:
        >>> e = tone_energy(torch.randn(2, 1, 4000), strides=(2, 4))
        >>> e.peak.shape, e.strides
        (torch.Size([2, 2]), (2, 4))
    """
    x = as_batch("x", x, 1)
    length = x.shape[-1]
    t = length if tile is None else min(v.positive_int("tile", tile), length)
    strides = tone_strides(t, strides)
    n = t // math.lcm(*strides) * math.lcm(*strides)
    starts = tile_starts(length, t)
    chunk = max(1, CHUNK // (x.shape[0] * x.shape[1] * n))
    parts = (
        _window_energy(torch.stack([x[..., s : s + n] for s in starts[k : k + chunk]]), strides)
        for k in range(0, len(starts), chunk)
    )
    return functools.reduce(operator.add, parts)


class ToneScore(NamedTuple):
    """Output of :func:`tone_score` (B items, F tone frequencies, P strides).

    ``score`` (B,): dB, the highest of ``stride_scores``; ``frequency`` (B,): Hz, the tone
    whose own score is highest (NaN when none stands above its background); ``period`` (B,):
    its period in samples (0 when none); ``frequency_scores`` (B, F): dB per tone;
    ``frequencies`` (F,): Hz; ``periods`` (F,): each tone's period; ``stride_scores`` (B, P):
    dB per stride, summed over its lattice; ``strides``. Items with a non-finite sample have
    NaN scores and frequency and period 0.
    """

    score: torch.Tensor
    frequency: torch.Tensor
    period: torch.Tensor
    frequency_scores: torch.Tensor
    frequencies: torch.Tensor
    periods: torch.Tensor
    stride_scores: torch.Tensor
    strides: tuple[int, ...]


def score_tones(energy: ToneEnergy, sample_rate: float) -> ToneScore:
    """:class:`ToneScore` from summed :class:`ToneEnergy`, tones in Hz at ``sample_rate``.

    A stride's lattice holds each tone below ``fs / 2`` twice (``a / p`` and its mirror) and
    ``fs / 2`` once, so its energies are those weighted sums of the tones', as in
    :func:`~checkerscope.analysis.score1d.period_scores_1d`.

    Example:
        >>> x = torch.randn(1, 1, 8000, generator=torch.Generator().manual_seed(0))
        >>> x[..., ::4] += 0.5  # a period-4 pattern: tones at fs/4 and fs/2
        >>> r = score_tones(tone_energy(x), sample_rate=16000)
        >>> r.frequencies.tolist(), [round(float(s)) for s in r.frequency_scores[0]]
        ([2000.0, 4000.0, 6000.0, 8000.0], [0, 22, 7, 19])
        >>> float(r.frequency[0]), int(r.period[0])
        (4000.0, 4)
    """
    fs = v.positive_number("sample_rate", sample_rate)
    if not isinstance(energy, ToneEnergy):
        raise ValueError(f"energy must be a ToneEnergy, got {type(energy).__name__}")
    lattice = tone_lattice(energy.strides)
    tiny = torch.finfo(energy.peak.dtype)
    floor = (energy.total[:, None] * tiny.eps).clamp(min=tiny.tiny)
    # Tone q is on stride p's lattice when q * p is an integer; below fs / 2 it counts twice.
    weights = torch.tensor(
        [[(1 + (q < 0.5)) * ((q * p).denominator == 1) for p in energy.strides] for q in lattice],
        dtype=energy.peak.dtype,
        device=energy.peak.device,
    )
    per_tone = to_decibels(energy.peak, torch.maximum(energy.background, floor))
    per_stride = to_decibels(
        energy.peak @ weights, torch.maximum(energy.background @ weights, floor)
    )
    device = per_tone.device
    frequencies = torch.tensor(
        [float(q * fs) for q in lattice], dtype=per_tone.dtype, device=device
    )
    periods = torch.tensor([q.denominator for q in lattice], device=device)
    best, index = per_tone.max(dim=1)
    heard = (best > 0) & energy.finite
    nan = torch.tensor(math.nan, dtype=per_tone.dtype, device=device)
    finite = energy.finite[:, None]
    return ToneScore(
        torch.where(energy.finite, per_stride.amax(dim=1), nan),
        torch.where(heard, frequencies[index], nan),
        torch.where(heard, periods[index], 0),
        torch.where(finite, per_tone, nan),
        frequencies,
        periods,
        torch.where(finite, per_stride, nan),
        energy.strides,
    )


def tone_score(
    x: torch.Tensor,
    sample_rate: float,
    strides: Sequence[int] | None = None,
    tile: int | None = TILE,
) -> ToneScore:
    """How far the tones of stride-s upsamplers stand above the spectrum of sound, in dB and Hz.

    ``x``: (B, C, L) or (C, L) waveforms at ``sample_rate`` Hz, any amplitude. With ``P_t`` the
    power spectrum (channels averaged) of the periodic component of window ``t``
    (:func:`periodic_bins`) and ``f`` a tone ``a * fs / p``::

        score_f = 10 * log10( sum_t P_t(f) / sum_t B_t(f) ),  floored at 0 dB,
        B_t(f)  = median of P_t over the ring 2 <= |g - f| <= 32 bins around f, / ln 2,

    and ``score`` is the highest per-stride score, the same sums over each stride's lattice:
    equal to :func:`~checkerscope.analysis.score1d.checkerboard_score_1d` with the same
    ``tile`` (:data:`TILE` here; windows of at least ``64 * lcm(strides)`` samples, as shorter
    ones narrow the ring). ``frequency`` names the tone heard, in Hz. ``strides=None``: (2, 4,
    8), those that fit. Unchanged by ``a * x + b`` (``a != 0``); differentiable; memory flat in
    L (:func:`tone_energy`). A stride-2 tone sits at ``fs / 2``, a single bin, so noise alone
    scores above 6 dB in a few percent of single short windows. The embedded sounds, clean or
    interpolated, stay below the image score's 12 dB threshold.

    Example:
        >>> n = torch.arange(16000)
        >>> x = torch.sin(2 * torch.pi * 440 * n / 16000) + 0.01 * torch.randn(16000)
        >>> x += 0.01 * torch.cos(torch.pi * n * 3 / 4)  # 3 fs / 8: a stride-8 tone
        >>> r = tone_score(x[None], sample_rate=16000)
        >>> bool(r.score > 12), float(r.frequency), int(r.period)
        (True, 6000.0, 8)
    """
    return score_tones(tone_energy(x, strides, tile), sample_rate)
