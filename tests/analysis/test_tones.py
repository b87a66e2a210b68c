"""The tone score: against brute force and the 1-D checkerboard score, window by window, and on
the embedded sounds with tones planted at the multiples of fs/s, clean, upsampled and noise."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from checkerscope import sounds
from checkerscope.analysis import tones as T
from checkerscope.analysis.score import THRESHOLD
from checkerscope.analysis.score1d import period_scores_1d, periodic_rfft
from checkerscope.analysis.spectra import periodic_smooth
from checkerscope.analysis.welch import tile_starts
from checkerscope.nn import ResizeConv1d

RATES = (8000, 16000, 22050, 44100, 48000)


def reference_energy(x: torch.Tensor, strides: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """One window (C, L), L a multiple of the strides' lcm: the periodic component from the
    2-D decomposition of a 1 x L image, the full FFT, every tone and ring bin read in a loop."""
    n = x.shape[-1]
    comp, _ = periodic_smooth(x.double()[:, None, :])
    power = (np.abs(np.fft.fft(comp[:, 0].numpy(), axis=-1)) ** 2).mean(axis=0)
    r_out = min(32, n // math.lcm(*strides) // 2)
    peaks, backgrounds = [], []
    for q in T.tone_lattice(strides):
        k = int(q * n)
        ring = sorted(
            power[(k + d) % n] for d in range(-r_out, r_out + 1) if abs(d) >= min(2, r_out)
        )
        peaks.append(power[k])
        backgrounds.append(ring[(len(ring) - 1) // 2] / math.log(2))  # torch's lower median
    return np.array(peaks), np.array(backgrounds)


def plant(
    x: torch.Tensor, fraction: Fraction, amplitude: float, phase: float = 0.3
) -> torch.Tensor:
    """``x`` plus a cosine at ``fraction`` of the sampling rate (a stride-s tone)."""
    n = torch.arange(x.shape[-1], dtype=torch.float64)
    return x + amplitude * torch.cos(2 * math.pi * float(fraction) * n + phase).to(x.dtype)


def test_the_lattice_folds_and_orders_the_tones() -> None:
    assert T.tone_lattice((8,)) == (Fraction(1, 8), Fraction(1, 4), Fraction(3, 8), Fraction(1, 2))
    assert T.tone_lattice((2, 3)) == (Fraction(1, 3), Fraction(1, 2))
    r = T.tone_score(torch.randn(1, 1, 600), sample_rate=6000, strides=(3, 2), tile=None)
    assert r.frequencies.tolist() == [2000.0, 3000.0]
    assert r.periods.tolist() == [3, 2]


@settings(max_examples=20, deadline=None)
@given(
    n=st.integers(16, 160),
    c=st.sampled_from([1, 3]),
    strides=st.sampled_from([(2,), (4,), (2, 4, 8), (3,), (2, 3)]),
    seed=st.integers(0, 99),
)
def test_energy_matches_brute_force(n: int, c: int, strides: tuple[int, ...], seed: int) -> None:
    m = math.lcm(*strides)
    n = max(n // m * m, 2 * m)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(c, n, generator=gen, dtype=torch.float64).cumsum(-1)
    x += torch.randn(m, generator=gen, dtype=torch.float64).repeat(n // m)
    e = T.tone_energy(x, strides, tile=None)
    peaks, backgrounds = reference_energy(x, strides)
    np.testing.assert_allclose(e.peak[0].numpy(), peaks, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(e.background[0].numpy(), backgrounds, rtol=1e-7, atol=1e-9)


@settings(max_examples=15, deadline=None)
@given(
    length=st.integers(1600, 6000),
    tile=st.sampled_from([None, 1600, 2048]),
    strides=st.sampled_from([(2, 4, 8), (2,), (4, 8), (3, 8)]),
    seed=st.integers(0, 99),
)
def test_stride_scores_are_the_1d_checkerboard_scores(
    length: int, tile: int | None, strides: tuple[int, ...], seed: int
) -> None:
    """Windows of at least 64 * lcm samples: the rings of both scores are 32 bins wide."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 2, length, generator=gen, dtype=torch.float64).cumsum(-1)
    x[0] += (
        0.3 * torch.randn(8, generator=gen, dtype=torch.float64).repeat(length // 8 + 1)[:length]
    )
    r = T.tone_score(x, 16000, strides, tile)
    torch.testing.assert_close(r.stride_scores, period_scores_1d(x, strides, tile))
    torch.testing.assert_close(r.score, r.stride_scores.amax(dim=1))


def test_periodic_bins_are_those_of_the_1d_score_and_stay_finite_in_float32() -> None:
    x = torch.randn(2, 3, 40000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    bins = torch.tensor([1, 2, 5000, 20000])
    torch.testing.assert_close(T.periodic_bins(x, bins), periodic_rfft(x)[..., bins])
    single = x.float().requires_grad_(True)
    T.periodic_bins(single, bins[2:]).abs().sum().backward()
    assert single.grad is not None and torch.isfinite(single.grad).all()


def test_windows_scored_apart_add_up_to_the_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    x = torch.randn(2, 2, 50000, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    whole = T.tone_energy(x, tile=4096)
    parts = [
        T.tone_energy(x[..., s : s + 4096], (2, 4, 8), tile=None) for s in tile_starts(50000, 4096)
    ]
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    monkeypatch.setattr(T, "CHUNK", 3 * 4 * 4096)  # three windows at a time
    chunked = T.tone_energy(x, tile=4096)
    for energy in (total, chunked):
        torch.testing.assert_close(energy.peak, whole.peak)
        torch.testing.assert_close(energy.background, whole.background)
        torch.testing.assert_close(energy.total, whole.total)


def test_energies_of_other_strides_do_not_add() -> None:
    a = T.tone_energy(torch.randn(1, 1, 64), (2, 4))
    with pytest.raises(
        ValueError, match=r"only tone energies of strides \(2, 4\) add up, got \(2,\)"
    ):
        a + T.tone_energy(torch.randn(1, 1, 64), (2,))


@pytest.mark.parametrize("fs", [8000, 16000, 44100, 48000])
def test_a_tone_20_db_above_its_background_scores_20_db_at_its_frequency(fs: int) -> None:
    """Every tone of strides 2, 4, 8, planted in every embedded sound with the power of 100
    times the clean background there: the score is 20 dB within 2 dB, the frequency exact.
    The amplitudes this takes run from about -105 to -12 dB of the sound's RMS."""
    for seed in range(2):
        for name, x in sounds.embedded(fs, 3.0, seed).items():
            x = x.double()
            windows = len(tile_starts(x.shape[-1], T.TILE))
            n = min(T.TILE, x.shape[-1]) // 8 * 8  # each window's length
            clean = T.tone_energy(x)
            for i, q in enumerate(T.tone_lattice((2, 4, 8))):
                # A bin-centred cosine of amplitude A puts (A n / 2)**2 in its bin (A n)**2 at fs/2
                bin_amplitude = math.sqrt(100 * float(clean.background[0, i]) / windows)
                amplitude = bin_amplitude / n * (1 if q == Fraction(1, 2) else 2)
                r = T.tone_score(plant(x, q, amplitude, phase=0.0), fs)
                assert float(r.frequency_scores[0, i]) == pytest.approx(20, abs=2), (name, seed, q)
                assert float(r.frequency[0]) == float(q * fs), (name, seed, q)
                assert int(r.period[0]) == q.denominator


@pytest.mark.parametrize("fs", [44100, 48000])
@pytest.mark.parametrize(("stride", "harmonic"), [(2, 1), (4, 1), (8, 3)])
def test_a_tone_30_db_below_the_mix_is_found(fs: int, stride: int, harmonic: int) -> None:
    """The mix's hi-hats fill the top band with noise: at -30 dB of its RMS every stride's tone
    scores at least 15 dB (at -40 dB only the stride-2 tone at fs/2 is sure to pass 12 dB)."""
    for seed in range(3):
        x = sounds.embedded(fs, 3.0, seed)["mix"]
        rms = float(x.square().mean().sqrt())
        r = T.tone_score(plant(x, Fraction(harmonic, stride), 10 ** (-30 / 20) * rms * 2**0.5), fs)
        assert float(r.score[0]) > THRESHOLD
        assert float(r.frequency[0]) == harmonic * fs / stride


def test_clean_sounds_are_not_flagged() -> None:
    """At every rate. With the 1-D score's 16384-sample windows a solo melody, a sparse line
    spectrum whose vibrato sweeps harmonics across the tone frequencies, could pass 12 dB."""
    for fs in RATES:
        for seed in range(3):
            for name, x in sounds.embedded(fs, 3.0, seed).items():
                assert float(T.tone_score(x, fs).score[0]) < THRESHOLD, (name, fs, seed)
    melody = sounds.embedded(48000, 3.0, seed=4)["melody"]
    assert float(T.tone_score(melody, 48000, tile=16384).score[0]) > THRESHOLD
    assert float(T.tone_score(melody, 48000).score[0]) < THRESHOLD


@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_interpolated_sounds_carry_no_tones(mode: str) -> None:
    """Nearest and linear interpolation vanish at the multiples of fs/s, where the tones are."""
    for s in (2, 4, 8):
        for seed in range(2):
            for name, x in sounds.embedded(48000 // s, 3.0, seed).items():
                up = F.interpolate(x[None], scale_factor=s, mode=mode)
                assert float(T.tone_score(up, 48000).score[0]) < THRESHOLD, (name, s, seed)


def test_noise_is_not_flagged() -> None:
    gen = torch.Generator().manual_seed(0)
    white = torch.randn(10, 1, 48000, generator=gen)
    spectrum = torch.fft.rfft(torch.randn(10, 1, 48000, generator=gen))
    f = torch.arange(spectrum.shape[-1]).clamp(min=1)
    pink = torch.fft.irfft(spectrum / f.sqrt(), n=48000)
    brown = white.cumsum(-1)
    for noise in (white, pink, brown, torch.rand(10, 2, 48000, generator=gen)):
        assert (T.tone_score(noise, 16000).score < THRESHOLD).all()


def test_random_init_deconvolution_tones_and_resize_convolution_does_not() -> None:
    """A feature map with an offset (as after a ReLU) through stride-s layers at random init:
    the transposed convolution's tones stand out, the nearest resize-convolution's do not."""
    torch.manual_seed(0)
    for s in (2, 4, 8):
        x = sounds.embedded(48000 // s, 3.0, seed=0)["speech"][None] + 0.2
        deconv = torch.nn.ConvTranspose1d(1, 1, 2 * s, s, s // 2)
        resize = ResizeConv1d(1, 1, 2 * s + 1, scale_factor=s)
        with torch.no_grad():
            tonal, clean = T.tone_score(deconv(x), 48000), T.tone_score(resize(x), 48000)
        assert float(tonal.score[0]) > THRESHOLD
        assert float(tonal.frequency[0]) % (48000 / s) == 0
        assert float(clean.score[0]) < THRESHOLD


def test_affine_invariance() -> None:
    x = sounds.embedded(16000, 1.0, seed=1)["mix"][None].double()
    x = plant(x, Fraction(1, 4), 1e-3)
    r = T.tone_score(x, 16000)
    for a, b in ((-3.0, 0.5), (0.01, -2.0), (1000.0, 7.0)):
        s = T.tone_score(a * x + b, 16000)
        torch.testing.assert_close(s.frequency_scores, r.frequency_scores)
        torch.testing.assert_close(s.score, r.score)
    single = T.tone_score((5 * x + 3).float(), 16000)
    torch.testing.assert_close(single.score, r.score.float(), atol=0.05, rtol=0)


def test_silence_scores_zero_without_a_tone() -> None:
    for x in (torch.zeros(2, 1, 1000), torch.full((2, 1, 1000), 0.25)):
        r = T.tone_score(x, 8000)
        assert (r.score == 0).all() and (r.frequency_scores == 0).all()
        assert r.frequency.isnan().all() and (r.period == 0).all()


def test_a_non_finite_item_is_nan_and_the_others_are_scored() -> None:
    x = torch.randn(3, 2, 5000, generator=torch.Generator().manual_seed(0))
    x[1, 1, 17], x[2, 0, 4000] = math.nan, math.inf
    good = T.tone_score(x[:1], 16000)
    r = T.tone_score(x, 16000, tile=1024)
    assert r.score[1:].isnan().all() and r.frequency[1:].isnan().all()
    assert r.stride_scores[1:].isnan().all() and r.frequency_scores[1:].isnan().all()
    assert (r.period[1:] == 0).all()
    torch.testing.assert_close(r.score[:1], T.tone_score(x[:1], 16000, tile=1024).score)
    assert torch.isfinite(good.score).all()


def test_differentiable() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1, 1, 256, generator=gen, dtype=torch.float64).cumsum(-1)
    x += 0.5 * torch.randn(8, generator=gen, dtype=torch.float64).repeat(32)
    x.requires_grad_(True)
    torch.autograd.gradcheck(lambda t: T.tone_score(t, 16000, tile=None).frequency_scores, (x,))
    big = sounds.embedded(16000, 2.0)["speech"][None]
    big = plant(big, Fraction(1, 2), 1e-3).requires_grad_(True)
    T.tone_score(big, 16000).score.sum().backward()
    assert big.grad is not None and torch.isfinite(big.grad).all() and big.grad.abs().sum() > 0


@pytest.mark.parametrize(
    ("x", "kwargs", "message"),
    [
        (torch.randn(1, 1, 2, 2), {}, r"x must have shape \(B, C, L\) or \(C, L\)"),
        (torch.randn(1, 1, 3), {}, "x must be at least 4 samples long to hold a stride-2 tone"),
        (
            torch.randn(1, 1, 20),
            {"strides": (3, 4)},
            r"strides \(3, 4\) need windows of at least 24 samples \(twice their lcm 12\), got 20",
        ),
        (
            torch.randn(1, 1, 64),
            {"strides": (1, 2)},
            r"strides must be integers >= 2, got \(1, 2\)",
        ),
        (
            torch.randn(1, 1, 64),
            {"strides": 4},
            "strides must be a sequence of integers >= 2, got 4",
        ),
        (
            torch.randn(1, 1, 64),
            {"sample_rate": 0},
            "sample_rate must be a finite number > 0, got 0",
        ),
        (torch.randn(1, 1, 64), {"tile": 0}, "tile must be a positive integer, got 0"),
        ([1.0, 2.0], {}, "x must be a torch.Tensor, got list"),
    ],
)
def test_bad_input_is_named(x: object, kwargs: dict, message: str) -> None:
    kwargs = {"sample_rate": 16000, **kwargs}
    with pytest.raises(ValueError, match=message):
        T.tone_score(x, **kwargs)


def test_a_nonlinearity_after_resize_conv_makes_a_tone_from_its_phase_variances() -> None:
    """README, "Sound": a nearest resize-convolution's output phases weight the input
    differently, so on white noise its variance alternates; linear, that is no tone, but a
    LeakyReLU after it turns the alternating variance into an alternating mean: a tone at fs/2."""
    from checkerscope.nn import ResizeConv1d

    torch.manual_seed(0)
    up = ResizeConv1d(8, 8, 9)
    with torch.no_grad():
        y = up(torch.randn(16, 8, 8000))
    phases = y[..., 100:-100].reshape(16, 8, -1, 2)
    variance_gap = (phases.var(dim=(0, 2)).diff(dim=-1).abs() / phases.var()).mean()
    assert float(variance_gap) > 0.05
    linear = T.tone_score(y, 16000)
    bent = T.tone_score(F.leaky_relu(y, 0.2), 16000)
    assert float(linear.score.max()) < 6.0
    assert float(bent.score.mean()) > 12.0 and set(bent.frequency.tolist()) == {8000.0}
