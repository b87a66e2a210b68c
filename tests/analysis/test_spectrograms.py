"""Spectrograms and average spectra against scipy.signal, and their scale and axes."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import torch

from checkerscope.analysis.spectrograms import EPS, average_spectrum, spectrogram


@pytest.mark.parametrize(("window", "hop"), [(256, None), (1024, 256), (255, 100), (64, 64)])
def test_equal_to_scipy(window: int, hop: int | None) -> None:
    x = torch.randn(2, 3, 5000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    step = hop or window // 2
    kw = {"window": "hann", "nperseg": window, "noverlap": window - step, "detrend": False}
    f, t, power = scipy.signal.spectrogram(x.numpy(), 8000, scaling="spectrum", **kw)
    s = spectrogram(x, 8000, window, hop)
    np.testing.assert_allclose(s.decibels.numpy(), 10 * np.log10(power.mean(axis=1) + EPS))
    np.testing.assert_allclose(s.frequency.numpy(), f)
    np.testing.assert_allclose(s.time.numpy(), t)
    f, power = scipy.signal.welch(x.numpy(), 8000, scaling="spectrum", **kw)
    a = average_spectrum(x, 8000, window, hop)
    np.testing.assert_allclose(a.power.numpy(), power.mean(axis=1))
    np.testing.assert_allclose(a.frequency.numpy(), f)
    torch.testing.assert_close(a.decibels, 10 * torch.log10(a.power + EPS))


def test_a_sine_reads_its_mean_power_at_its_frequency() -> None:
    fs, n = 16000, torch.arange(16000)
    for amplitude in (1.0, 0.1):
        x = amplitude * torch.sin(2 * torch.pi * 2500 * n / fs)  # bin 160 of 1024
        a = average_spectrum(x[None], fs)
        peak = int(a.power[0].argmax())
        assert float(a.frequency[peak]) == 2500.0
        assert float(a.decibels[0, peak]) == pytest.approx(
            20 * np.log10(amplitude) - 3.0103, abs=1e-3
        )


def test_silence_reads_the_floor_and_gradients_flow() -> None:
    assert (spectrogram(torch.zeros(1, 2048), 8000).decibels == -120).all()
    x = torch.randn(1, 1, 4096, requires_grad=True)
    average_spectrum(x, 8000).decibels.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


@pytest.mark.parametrize(
    ("x", "kwargs", "message"),
    [
        (torch.randn(1, 500), {}, "x has 500 samples, fewer than window=1024; pass a shorter"),
        (torch.randn(1, 5000), {"hop": 0}, "hop must be a positive integer, got 0"),
        (torch.randn(1, 5000), {"sample_rate": -1}, "sample_rate must be a finite number > 0"),
        (torch.randn(5000), {}, r"x must have shape \(B, C, L\) or \(C, L\)"),
    ],
)
def test_bad_input_is_named(x: torch.Tensor, kwargs: dict, message: str) -> None:
    kwargs = {"sample_rate": 8000, **kwargs}
    for fn in (spectrogram, average_spectrum):
        with pytest.raises(ValueError, match=message):
            fn(x, **kwargs)
