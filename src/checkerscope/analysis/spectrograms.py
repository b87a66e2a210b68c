"""Pictures of sound: the spectrogram (STFT power over time) and the average spectrum (Welch).

Both use a periodic Hann window and no padding, and scale power as ``scipy.signal``'s
``scaling="spectrum"`` does on one side: a bin holds the mean power of the sinusoid centred on
it, so a sine of amplitude ``A`` reads ``A**2 / 2`` (a full-scale sine -3.0 dB) whatever the
window length. Channels' powers are averaged, as everywhere in :mod:`checkerscope.analysis`.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from checkerscope import checks as v
from checkerscope.analysis.spectra import as_batch

WINDOW = 1024
"""Default frame length in samples: 64 ms at 16 kHz, 21 ms at 48 kHz."""

EPS = 1e-12
"""Power added before the logarithm, so silence reads -120 dB instead of -inf."""


class Spectrogram(NamedTuple):
    """Output of :func:`spectrogram`.

    ``decibels`` (B, F, T): ``10*log10(power + EPS)``; ``frequency`` (F,): each row's frequency
    in Hz, 0 to the Nyquist frequency; ``time`` (T,): each frame's centre in seconds.
    """

    decibels: torch.Tensor
    frequency: torch.Tensor
    time: torch.Tensor


class AverageSpectrum(NamedTuple):
    """Output of :func:`average_spectrum`: ``power`` (B, F), ``decibels`` (B, F) its
    ``10*log10(power + EPS)``, ``frequency`` (F,) in Hz."""

    power: torch.Tensor
    decibels: torch.Tensor
    frequency: torch.Tensor


def frame_power(x: torch.Tensor, window: int, hop: int) -> torch.Tensor:
    """One-sided power of Hann-windowed frames, channels averaged: (B, C, L) -> (B, F, T).

    Frame ``t`` covers samples ``t*hop .. t*hop + window - 1``; ``F = window // 2 + 1``.
    """
    w = torch.hann_window(window, periodic=True, dtype=x.dtype, device=x.device)
    frames = x.unfold(-1, window, hop) * w  # (B, C, T, window)
    power = torch.view_as_real(torch.fft.rfft(frames)).square().sum(-1) / w.sum().square()
    # One side holds half of each sinusoid's power; DC and an even window's Nyquist bin have
    # no mirror image.
    sides = torch.full((window // 2 + 1,), 2.0, dtype=x.dtype, device=x.device)
    sides[0] = 1.0
    if window % 2 == 0:
        sides[-1] = 1.0
    return (power * sides).mean(dim=1).transpose(-1, -2)


def checked_frames(
    x: torch.Tensor, sample_rate: float, window: int, hop: int | None
) -> tuple[torch.Tensor, float, int, int]:
    """``x`` as (B, C, L) floats and the checked ``sample_rate``, ``window`` and ``hop``."""
    x = as_batch("x", x, 1)
    sample_rate = v.positive_number("sample_rate", sample_rate)
    window = v.positive_int("window", window)
    hop = max(window // 2, 1) if hop is None else v.positive_int("hop", hop)
    if x.shape[-1] < window:
        raise ValueError(
            f"x has {x.shape[-1]} samples, fewer than window={window}; pass a shorter window"
        )
    return x, sample_rate, window, hop


def spectrogram(
    x: torch.Tensor, sample_rate: float, window: int = WINDOW, hop: int | None = None
) -> Spectrogram:
    """Power over frequency and time in dB, for plots: (B, C, L) or (C, L) -> (B, F, T).

    Frames of ``window`` samples every ``hop`` (default ``window // 2``), periodic Hann
    window, no padding, channels' powers averaged; ``F = window // 2 + 1`` and
    ``T = (L - window) // hop + 1``. Equals ``scipy.signal.spectrogram(x, fs, "hann",
    nperseg=window, noverlap=window - hop, detrend=False, scaling="spectrum")`` in dB.

    Example:
        >>> x = torch.sin(2 * torch.pi * 1000 * torch.arange(16000) / 16000)  # 1 kHz, 1 s
        >>> s = spectrogram(x[None], sample_rate=16000)
        >>> s.decibels.shape, float(s.frequency[s.decibels[0, :, 0].argmax()])
        (torch.Size([1, 513, 30]), 1000.0)
    """
    x, sample_rate, window, hop = checked_frames(x, sample_rate, window, hop)
    power = frame_power(x, window, hop)
    real = power.dtype
    frequency = torch.arange(window // 2 + 1, dtype=real, device=x.device) * sample_rate / window
    starts = torch.arange(power.shape[-1], dtype=real, device=x.device) * hop
    time = (starts + window / 2) / sample_rate
    return Spectrogram(10 * torch.log10(power + EPS), frequency, time)


def average_spectrum(
    x: torch.Tensor, sample_rate: float, window: int = WINDOW, hop: int | None = None
) -> AverageSpectrum:
    """Welch's average spectrum: the mean over frames of :func:`spectrogram`'s power, (B, F).

    Equals ``scipy.signal.welch(x, fs, "hann", nperseg=window, noverlap=window - hop,
    detrend=False, scaling="spectrum")`` averaged over channels.

    Example:
        >>> s = average_spectrum(torch.randn(2, 1, 8000), sample_rate=8000, window=256)
        >>> s.power.shape, float(s.frequency[-1])
        (torch.Size([2, 129]), 4000.0)
    """
    x, sample_rate, window, hop = checked_frames(x, sample_rate, window, hop)
    power = frame_power(x, window, hop).mean(dim=-1)
    frequency = torch.arange(window // 2 + 1, dtype=power.dtype, device=x.device)
    return AverageSpectrum(power, 10 * torch.log10(power + EPS), frequency * sample_rate / window)
