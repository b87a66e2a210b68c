"""checkerscope.analysis.lattice: the one-image NumPy fast path (what a scan runs) against the
batched torch definition of the lattice energies."""

from __future__ import annotations

import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from checkerscope.analysis import score as S
from checkerscope.analysis.lattice import lattice_energy, lattice_energy_single, window_energy


def _both(x: torch.Tensor, periods: tuple[int, ...]) -> tuple[torch.Tensor, ...]:
    m = math.lcm(*periods)
    crop = x[..., : x.shape[-2] // m * m, : x.shape[-1] // m * m]
    single = lattice_energy_single(crop[0, 0], periods)
    assert all(torch.equal(a, b) for a, b in zip(single, window_energy(x, periods), strict=True))
    return (*single, *lattice_energy(crop, periods))


@settings(max_examples=40, deadline=None)
@given(
    h=st.integers(4, 300),
    w=st.integers(4, 300),
    periods=st.lists(st.integers(2, 9), min_size=1, max_size=3, unique=True),
    amplitude=st.sampled_from([0.0, 0.02, 1.0]),
    seed=st.integers(0, 2**16),
)
def test_single_image_path_matches_the_batched_one(
    h: int, w: int, periods: list[int] | tuple[int, ...], amplitude: float, seed: int
) -> None:
    kept: list[int] = []
    for p in periods:  # (a crop to a multiple of every period must still hold two of each)
        if 2 * p <= min(h, w) and math.lcm(*kept, p) <= min(h, w):
            kept.append(p)
    periods = tuple(kept) or (2,)
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(1, 1, h, w, generator=g)
    p = periods[0]
    x += amplitude * (torch.arange(h)[:, None] % p == 0) * (torch.arange(w) % p == 0)
    art, bg, ref_art, ref_bg = _both(x, periods)
    assert art.shape == bg.shape == (1, len(periods))
    torch.testing.assert_close(art, ref_art, rtol=1e-5, atol=1e-6 * float(ref_art.max()))
    torch.testing.assert_close(bg, ref_bg, rtol=1e-5, atol=0.0)


def test_single_image_path_against_float64_and_for_a_constant_image() -> None:
    x = torch.rand(1, 1, 256, 256, generator=torch.Generator().manual_seed(0))
    x[..., ::2, ::2] += 0.05
    art, bg = lattice_energy_single(x[0, 0], S.PERIODS)
    ref_art, ref_bg = lattice_energy(x.double(), S.PERIODS)
    torch.testing.assert_close(art.double(), ref_art, rtol=1e-4, atol=0.0)
    torch.testing.assert_close(bg.double(), ref_bg, rtol=1e-4, atol=0.0)
    flat = torch.full((1, 1, 64, 64), 0.5)
    assert S.period_scores(flat).tolist() == [[0.0, 0.0, 0.0]]
    # A scan scores float32 luma of one channel: the score equals that of the batched path.
    single = S.period_scores(x)
    batch = S.to_decibels(*lattice_energy(x, S.PERIODS))
    torch.testing.assert_close(single, batch, rtol=1e-5, atol=1e-5)
