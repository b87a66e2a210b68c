"""The 1-D checkerboard score: its spectrum and lattice against brute force, and what it finds."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from checkerscope.analysis import score1d as S1
from checkerscope.analysis.spectra import periodic_rfft2
from checkerscope.analysis.welch import unit_scale


def dense_periodic_component(x: np.ndarray) -> np.ndarray:
    """Moisan's periodic component of a 1-D signal by a dense solve: p = u - s with
    Laplacian(s) = boundary image v (periodic 3-point Laplacian), s of zero mean."""
    n = x.size
    lap = -2 * np.eye(n) + np.roll(np.eye(n), 1, axis=1) + np.roll(np.eye(n), -1, axis=1)
    v = np.zeros(n)
    v[0], v[-1] = x[-1] - x[0], x[0] - x[-1]
    s = np.linalg.lstsq(np.vstack([lap, np.ones(n)]), np.append(v, 0.0), rcond=None)[0]
    return x - s


def reference_energy(x: torch.Tensor, p: int) -> tuple[float, float]:
    """One whole signal (C, L), L a multiple of p: full fft of the dense periodic component,
    every lattice bin and ring bin visited in a loop."""
    _, n = x.shape
    comp = np.stack([dense_periodic_component(c) for c in x.double().numpy()])
    power = (np.abs(np.fft.fft(comp, axis=-1)) ** 2).mean(axis=0)
    r_out = min(32, n // p // 2)
    r_in = min(2, r_out)
    art = bg = 0.0
    for b in range(1, p):
        k = b * n // p
        art += power[k]
        ring = [power[(k + d) % n] for d in range(-r_out, r_out + 1) if abs(d) >= r_in]
        bg += sorted(ring)[(len(ring) - 1) // 2] / math.log(2)  # torch's median: the lower one
    return art, bg


def test_periodic_rfft_matches_the_2d_decomposition_of_one_row() -> None:
    x = torch.randn(3, 2, 37, dtype=torch.float64).cumsum(-1)
    torch.testing.assert_close(S1.periodic_rfft(x), periodic_rfft2(x.unsqueeze(-2))[..., 0, :])


def test_periodic_rfft_matches_a_dense_solve() -> None:
    x = torch.randn(50, dtype=torch.float64).cumsum(0)
    dense = np.fft.rfft(dense_periodic_component(x.numpy()))
    torch.testing.assert_close(S1.periodic_rfft(x), torch.from_numpy(dense))


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(4, 72),
    c=st.sampled_from([1, 2]),
    p=st.sampled_from([2, 4, 8]),
    seed=st.integers(0, 99),
)
def test_energy_matches_brute_force(n: int, c: int, p: int, seed: int) -> None:
    n = max(n // p * p, 2 * p)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(c, n, generator=gen, dtype=torch.float64).cumsum(-1)
    x += torch.randn(p, generator=gen, dtype=torch.float64).repeat(n // p)
    art, bg = S1.artifact_energy_1d(x, periods=(p,), tile=None)
    scale, _ = unit_scale(x[None])  # energies are those of the signal at unit scale
    ref_art, ref_bg = reference_energy(x * scale, p)
    assert float(art) == pytest.approx(ref_art, rel=1e-6)
    assert float(bg) == pytest.approx(ref_bg, rel=1e-6)


def test_tiles_sum_their_energies() -> None:
    # Each part reaches 0.99, as the whole does: all share one unit scale, so energies add.
    x = 0.9 * torch.rand(1, 1, 3000, dtype=torch.float64, generator=torch.Generator())
    x[..., ::1000] = 0.99
    art, bg = S1.artifact_energy_1d(x, periods=(2,), tile=1000)
    parts = [S1.artifact_energy_1d(x[..., s : s + 1000], (2,), tile=None) for s in (0, 1000, 2000)]
    torch.testing.assert_close(art, sum(a for a, _ in parts))
    torch.testing.assert_close(bg, sum(b for _, b in parts))


def test_a_planted_tone_is_found_and_noise_is_not() -> None:
    gen = torch.Generator().manual_seed(0)
    noise = torch.randn(4, 1, 8192, generator=gen)
    assert (S1.checkerboard_score_1d(noise) < 6).all()
    tone = torch.tensor([1.0, -1.0, 0.5, -0.5]).repeat(2048)  # period 4, with a period-2 part
    scores = S1.period_scores_1d(noise + 0.2 * tone, periods=(2, 4, 8))
    assert (scores[:, 0] > 20).all()
    assert (scores[:, 1] > 15).all()  # the lattice of 4 holds that of 2, diluted by one bin
    assert (scores[:, 2] > 12).all()


def test_a_ramp_leaves_no_leakage() -> None:
    # The jump between the ends of a ramp would spread a 1/f slope over every bin.
    ramp = torch.linspace(0, 100, 4096).view(1, 1, -1)
    noise = torch.randn(3, 1, 4096, generator=torch.Generator().manual_seed(1))
    assert (S1.period_scores_1d(ramp) == 0).all()
    torch.testing.assert_close(
        S1.period_scores_1d(ramp + noise), S1.period_scores_1d(noise), atol=0.5, rtol=0
    )


def test_affine_invariance() -> None:
    x = torch.randn(2, 3, 1024, dtype=torch.float64)
    x[..., ::2] += 0.2
    torch.testing.assert_close(S1.period_scores_1d(-3 * x + 7), S1.period_scores_1d(x))


@pytest.mark.parametrize(
    ("x", "kwargs", "message"),
    [
        (torch.randn(1, 1, 2, 2), {}, r"x must have shape \(B, C, L\) or \(C, L\)"),
        (torch.randn(1, 1, 3), {}, "at least 4 samples long"),
        (torch.randn(1, 1, 10), {"period": 8}, r"periods \[8\] need signals at least 16"),
        (torch.randn(1, 1, 10), {"period": 1}, "integers >= 2"),
        ([1.0, 2.0], {}, "x must be a torch.Tensor, got list"),
    ],
)
def test_bad_input_is_named(x: object, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        S1.checkerboard_score_1d(x, **kwargs)


@pytest.mark.parametrize("factor", [1e20, 1e-20, 2.0**90])
def test_any_scale_in_float32(factor: float) -> None:
    x = torch.randn(2, 1, 4096, generator=torch.Generator().manual_seed(2))
    x[..., ::4] += 0.3
    scaled = S1.period_scores_1d(x * factor)
    assert scaled.isfinite().all()
    torch.testing.assert_close(scaled, S1.period_scores_1d(x), atol=1e-3, rtol=0)


def test_a_non_finite_sample_gives_nan_for_its_signal_only() -> None:
    x = torch.randn(3, 1, 1024, generator=torch.Generator().manual_seed(3))
    y = x.clone()
    y[1, 0, 10] = float("nan")
    scores = S1.period_scores_1d(y)
    assert scores[1].isnan().all()
    torch.testing.assert_close(scores[[0, 2]], S1.period_scores_1d(x[[0, 2]]))


def test_periodic_rfft_has_finite_gradients_on_long_float32_signals() -> None:
    # 2 cos(2 pi k / n) - 2 rounds to 0 in float32 for the low bins of long signals; the
    # factor must be written so that no bin's factor is infinite.
    x = torch.randn(1, 40_000, requires_grad=True)
    S1.periodic_rfft(x).abs().sum().backward()
    assert torch.isfinite(x.grad).all()
    # ... and it is the same transform as the textbook factor, in float64.
    y = torch.randn(3, 999, dtype=torch.float64)
    n = y.shape[-1]
    k = torch.arange(n // 2 + 1, dtype=torch.float64)
    angle = 2 * math.pi * k / n
    d = 2 * torch.cos(angle) - 2
    d[0] = 1.0
    factor = (1 - torch.polar(torch.ones_like(k), angle)) / d
    factor[0] = 0
    expected = torch.fft.rfft(y) - factor * (y[..., -1] - y[..., 0]).unsqueeze(-1)
    torch.testing.assert_close(S1.periodic_rfft(y), expected, rtol=1e-9, atol=1e-8)
