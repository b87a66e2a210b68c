"""The embedded sounds: reproducible, at any rate the same music, and each what its name says."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.signal
import torch

from checkerscope import sounds
from checkerscope.analysis.spectrograms import average_spectrum


@pytest.mark.parametrize("fs", [4000, 8000, 22050, 44100, 48000])
def test_shapes_peaks_and_reproducibility(fs: int) -> None:
    a = sounds.embedded(fs, 0.7, seed=3)
    assert tuple(a) == sounds.NAMES
    for name, x in a.items():
        channels = 2 if name == "mix" else 1
        assert x.dtype == torch.float32 and x.shape == (channels, round(0.7 * fs))
        assert torch.isfinite(x).all()
        assert float(x.abs().max()) == pytest.approx(sounds.PEAK, rel=1e-6)
    b = sounds.embedded(fs, 0.7, seed=3)
    assert all(torch.equal(a[name], b[name]) for name in a)
    c = sounds.embedded(fs, 0.7, seed=4)
    assert not any(torch.equal(a[name], c[name]) for name in a)


def correlation(x: torch.Tensor, y: torch.Tensor) -> float:
    x, y = x.double().flatten(), y.double().flatten()
    return float((x * y).sum() / (x.norm() * y.norm()))


def below(x: np.ndarray, fs: int, cutoff: float) -> torch.Tensor:
    spectrum = np.fft.rfft(x)
    spectrum[..., np.fft.rfftfreq(x.shape[-1], 1 / fs) > cutoff] = 0
    return torch.from_numpy(np.fft.irfft(spectrum, n=x.shape[-1]))


def test_one_seed_is_the_same_music_at_every_rate() -> None:
    """Pitches, phases and envelopes are drawn in Hz and seconds and notes computed at the
    exact sample times: below 7 kHz, the 48 kHz chord and melody resampled to 16 kHz are the
    16 kHz ones (each rate keeps the harmonics below its 0.45 fs)."""
    low, high = sounds.embedded(16000, 1.5, seed=1), sounds.embedded(48000, 1.5, seed=1)
    for name in ("chord", "melody"):
        down = scipy.signal.resample_poly(high[name].double().numpy(), 1, 3, axis=-1)
        a, b = below(low[name].double().numpy(), 16000, 7000), below(down, 16000, 7000)
        assert correlation(a, b) > 0.999, name
    assert correlation(low["drums"], high["drums"][:, ::3]) < 0.9  # noise is drawn per sample


def test_the_mix_is_stereo_music() -> None:
    s = sounds.embedded(16000, 1.0, seed=0)
    left, right = s["mix"]
    assert correlation(left, right) < 0.99
    parts = torch.stack([s[name][0] for name in ("melody", "chord", "drums")])
    for channel in (left, right):  # each channel is a mix of the three parts, nothing else
        weights = torch.linalg.lstsq(parts.T.double(), channel.double()).solution
        torch.testing.assert_close(weights @ parts.double(), channel.double(), atol=1e-5, rtol=0)
        assert (weights > 0).all()


def test_adsr_segments() -> None:
    e = sounds.adsr(1000, 1000, attack=0.1, decay=0.2, sustain=0.4, release=0.3)
    assert e.shape == (1000,) and e.dtype == torch.float64
    assert float(e[0]) == 0 and float(e[50]) == pytest.approx(0.5)
    assert float(e[100]) == 1 and float(e[200]) == pytest.approx(0.7)
    assert torch.allclose(e[300:699], torch.tensor(0.4, dtype=torch.float64))
    assert float(e[849]) == pytest.approx(0.2, abs=0.002) and float(e[-1]) == 0
    assert (e[:100].diff() > 0).all() and (e[700:].diff() < 0).all()
    assert float(sounds.adsr(500, 1000, release=0.0)[-1]) == pytest.approx(0.6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sustain": 1.5}, "sustain must be a level between 0 and 1, got 1.5"),
        ({"attack": -0.1}, r"attack must be a duration >= 0 in seconds, got -0.1"),
        ({"release": math.inf}, r"release must be a duration >= 0 in seconds, got inf"),
    ],
)
def test_adsr_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        sounds.adsr(100, 1000, **kwargs)


def test_a_note_has_its_harmonics_and_nothing_above_the_band() -> None:
    fs = 8000
    x = sounds.harmonic_note(440.0, fs, fs, harmonics=20, vibrato_cents=0.0)
    spectrum = torch.fft.rfft(x).abs()  # 1 Hz bins
    top = sorted(spectrum.topk(8).indices.tolist())
    assert top == [440 * k for k in range(1, 9)]  # 9 * 440 = 3960 Hz is past 0.45 fs
    assert float(x.abs().max()) <= 1


def test_vibrato_swings_the_pitch_by_its_cents() -> None:
    fs = 16000
    x = sounds.harmonic_note(1000.0, 2 * fs, fs, harmonics=1, vibrato_hz=2.0, vibrato_cents=50)
    phase = np.unwrap(np.angle(scipy.signal.hilbert(x.numpy())))
    frequency = np.diff(phase)[fs // 10 : -fs // 10] * fs / (2 * np.pi)  # edges left out
    swing = 1000 * (2 ** (50 / 1200) - 1)  # 29.3 Hz
    assert frequency.max() == pytest.approx(1000 + swing, abs=0.1)
    assert frequency.min() == pytest.approx(1000 - swing, abs=0.1)


def test_chord_notes_are_equal_tempered() -> None:
    """Each note's fundamental is its strongest partial; the strongest peaks of the first
    chord lie within 10 cents (detuning 5, vibrato 3) of a note of the A440 scale."""
    fs = 16000
    for seed in range(3):
        x = sounds.embedded(fs, 2.0, seed)["chord"][0, :fs].double()
        spectrum = torch.fft.rfft(x * torch.hann_window(fs, dtype=torch.float64)).abs()
        local = (spectrum[1:-1] > spectrum[:-2]) & (spectrum[1:-1] > spectrum[2:])
        peaks = torch.nonzero(local).flatten() + 1
        strongest = peaks[spectrum[peaks].topk(3).indices].double()  # 1 Hz bins
        cents = 1200 * torch.log2(strongest / 440)
        assert ((cents - 100 * torch.round(cents / 100)).abs() < 10).all(), (seed, strongest)


def test_speech_is_voiced_at_a_speaking_pitch_with_its_power_in_the_formant_band() -> None:
    fs = 16000
    for seed in range(3):
        x = sounds.embedded(fs, 2.0, seed)["speech"][0].double()
        s = average_spectrum(x[None, None], fs, window=2048)
        band = (s.frequency > 80) & (s.frequency < 4000)
        assert float(s.power[0, band].sum() / s.power[0].sum()) > 0.95
        frames = x[: len(x) // 640 * 640].view(-1, 640)  # 40 ms
        loud = frames[frames.square().mean(-1) > 0.25 * frames.square().mean(-1).max()]
        assert len(loud) >= 5
        periodicity = []
        for frame in loud.numpy():
            frame = frame - frame.mean()
            ac = np.correlate(frame, frame, "full")[639:] / (640 - np.arange(640))
            periodicity.append(ac[fs // 160 : fs // 70].max() / ac[0])  # pitch 70 to 160 Hz
        # One pitch period later a voiced frame resembles itself (white noise: about 0.12).
        assert np.median(periodicity) > 0.4, seed


def test_drums_are_bursts() -> None:
    x = sounds.embedded(16000, 2.0, seed=0)["drums"][0]
    energy = x[: 2 * 16000 // 160 * 160].view(-1, 160).square().mean(-1)  # 10 ms frames
    onsets = (energy[1:] > 8 * energy[:-1].clamp(min=1e-12)).sum()
    assert onsets >= 6  # eighth notes at 100-130 beats per minute, two seconds
    assert float(energy.max() / energy.median()) > 10


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sample_rate": 3000}, "sample_rate must be at least 4000 Hz, got 3000"),
        ({"seconds": 0}, "seconds must be a finite number > 0, got 0"),
        ({"seconds": 1e-5}, "seconds must hold at least one sample at 16000 Hz, got 1e-05"),
        ({"seed": -1}, "seed must be a non-negative integer, got -1"),
    ],
)
def test_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        sounds.embedded(**kwargs)
