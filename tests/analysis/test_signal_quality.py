"""SDR and log-spectral distance against their definitions computed with NumPy and SciPy."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import torch

from checkerscope.analysis.signal_quality import log_spectral_distance, signal_to_distortion


def test_sdr_is_its_definition_per_item() -> None:
    rng = np.random.default_rng(0)
    ref = rng.standard_normal((3, 2, 500))
    est = ref + rng.standard_normal((3, 2, 500)) * np.array([0.1, 0.5, 1.0])[:, None, None]
    expected = [
        10 * np.log10((r**2).sum() / ((r - e) ** 2).sum()) for r, e in zip(ref, est, strict=True)
    ]
    got = signal_to_distortion(torch.from_numpy(est), torch.from_numpy(ref))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10)
    assert float(signal_to_distortion(torch.ones(1, 5), torch.ones(1, 5))) == float("inf")


def test_lsd_is_its_definition_with_scipys_spectrogram() -> None:
    rng = np.random.default_rng(1)
    ref = rng.standard_normal(4096)
    est = scipy.signal.lfilter([1, 0.5], [1], ref) + 0.01 * rng.standard_normal(4096)

    def decibels(x: np.ndarray) -> np.ndarray:
        _, _, s = scipy.signal.spectrogram(
            x, 8000, "hann", nperseg=256, noverlap=128, detrend=False, scaling="spectrum"
        )
        s[1:-1] *= 2  # one-sided power, as the library's spectrogram reads a sinusoid
        return 10 * np.log10(s + 1e-12)

    expected = np.sqrt(((decibels(est) - decibels(ref)) ** 2).mean(axis=0)).mean()
    got = log_spectral_distance(
        torch.from_numpy(est)[None, None], torch.from_numpy(ref)[None, None], 8000, window=256
    )
    assert float(got) == pytest.approx(expected, rel=1e-6)


def test_shapes_must_match() -> None:
    with pytest.raises(ValueError, match=r"same shape, got \(1, 10\) and \(1, 12\)"):
        signal_to_distortion(torch.zeros(1, 10), torch.zeros(1, 12))
