"""checkerscope.analysis.lattice: the definition against brute force, and the NumPy fast path
(what a scan runs) against the torch definition."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from checkerscope.analysis.lattice import (
    AXIS_RING,
    CLASSES,
    RING,
    axis_geometry,
    axis_neighbours,
    lattice_energy,
    lattice_energy_numpy,
    noise_maximum,
    plane_geometry,
    radii,
    shells,
)
from checkerscope.analysis.spectra import periodic_smooth


def lower_median(values: list[float]) -> float:
    return sorted(values)[(len(values) - 1) // 2]


def reference_energy(x: torch.Tensor, p: int) -> tuple[list[float], list[float]]:
    """Brute force for one image (C, H, W), H and W multiples of p: full fft2 of the spatial
    periodic component (the smooth part taken of the image less its phase means) and of the raw
    image, every peak, ring, line and axis bin in a loop."""
    _, h, w = x.shape
    x = x.double()
    m = math.lcm(p)
    phase_means = x.reshape(-1, h // m, m, w // m, m).mean(dim=(1, 3)).repeat(1, h // m, w // m)
    periodic = x - periodic_smooth(x - phase_means)[1]  # the jumps without the lattice's part
    plane = torch.fft.fft2(periodic).abs().square().mean(dim=0)
    raw = torch.fft.fft2(x - x.mean(dim=(1, 2), keepdim=True)).abs().square().mean(dim=0)
    r_in, r_out = radii(min(h, w), p, RING)
    side = max(h, w)
    directions = [(0.0, 1.0), (1.0, 0.0), (h / side, w / side), (h / side, -w / side)]
    ts = [t for t in range(-r_out, r_out + 1) if abs(t) >= r_in]
    art, bg = [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]
    peaks, backgrounds, shell_of = [], [], []
    for a in range(1, p):
        for b in range(1, p):
            ky, kx = a * h // p, b * w // p
            peaks.append(float(plane[ky, kx]))
            shell_of.append(tuple(sorted((min(a, p - a), min(b, p - b)))))
            ring = [
                float(plane[(ky + dy) % h, (kx + dx) % w])
                for dy in range(-r_out, r_out + 1)
                for dx in range(-r_out, r_out + 1)
                if max(abs(dy), abs(dx)) >= r_in
            ]
            lines = []
            for sy, sx in directions:
                m = max(abs(sy), abs(sx))
                lines.append(
                    lower_median(
                        [
                            float(plane[(ky + round(t * sy / m)) % h, (kx + round(t * sx / m)) % w])
                            for t in ts
                        ]
                    )
                )
            backgrounds.append(max(lower_median(ring), *lines) / math.log(2))
    # Per shell, each peak in units of its own background, brought back to the shell's mean
    # background; the shell where that ratio is highest, over the noise's expected highest.
    shell_art, shell_bg, sizes = {}, {}, {}
    for key in dict.fromkeys(shell_of):
        members = [i for i, k in enumerate(shell_of) if k == key]
        mean = sum(backgrounds[i] for i in members) / len(members)
        shell_art[key] = sum(peaks[i] * mean / backgrounds[i] for i in members)
        shell_bg[key] = sum(backgrounds[i] for i in members)
        sizes[key] = (len(members) + 1) // 2  # conjugate peaks (a, b), (p-a, p-b): one bin
    top = max(shell_art, key=lambda k: shell_art[k] / shell_bg[k])
    art[0] = shell_art[top] / noise_maximum(tuple(sorted(sizes.values())))
    bg[0] = shell_bg[top]
    for c, axis in ((1, raw[:, 0].clone()), (2, raw[0, :].clone())):
        n = len(axis)
        axis[0] = math.inf  # DC: the mean is removed, so no median may take it
        step = n // p
        a_in, a_out = radii(n, p, AXIS_RING)

        def local(k: int, axis: torch.Tensor = axis, n: int = n) -> float:
            ds = [d for d in range(-a_out, a_out + 1) if abs(d) >= a_in]  # noqa: B023
            return lower_median([float(axis[(k + d) % n]) for d in ds])

        reach = max(a_in, step // 2)
        for a in range(1, p):
            k0 = a * step
            art[c] += float(axis[k0])
            window = [k0 + d for d in range(-reach, reach + 1) if abs(d) >= a_in]
            top = max(float(axis[k % n]) / local(k) for k in window)
            bg[c] += local(k0) * max(1 / math.log(2), top)
    return art, bg


@settings(max_examples=25, deadline=None)
@given(
    h=st.integers(4, 48),
    w=st.integers(4, 48),
    c=st.sampled_from([1, 2]),
    p=st.sampled_from([2, 4, 8]),
    seed=st.integers(0, 2**16),
)
def test_energy_matches_brute_force(h: int, w: int, c: int, p: int, seed: int) -> None:
    h, w = max(h // p * p, 2 * p), max(w // p * p, 2 * p)
    x = torch.rand(c, h, w, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    art, bg = lattice_energy(x[None], (p,))
    ref_art, ref_bg = reference_energy(x, p)
    assert art.shape == bg.shape == (1, 1, len(CLASSES))
    np.testing.assert_allclose(art[0, 0].numpy(), ref_art, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(bg[0, 0].numpy(), ref_bg, rtol=1e-9)


@pytest.mark.parametrize("p", [2, 4, 8])
def test_a_pure_pattern_puts_all_its_energy_on_its_peaks(p: int) -> None:
    """A tiled random p x p tile: its phase means are itself, so nothing of it drives the smooth
    part, and the peaks hold (HW)^2 / p^2 times the summed squared deviations of the tile
    (Parseval on the p x p grid), the backgrounds nothing but the floor. Peak (a, b) holds
    (HW / p^2)^2 |T(a, b)|^2 of the tile's own p x p DFT T: the axes hold theirs, the 2-D
    lattice that of its shell with the most power per peak, over the noise's maximum."""
    h, w = 8 * p, 6 * p
    tile = torch.rand(3, p, p, dtype=torch.float64, generator=torch.Generator().manual_seed(p))
    x = tile.repeat(1, h // p, w // p)
    expected = (h * w) ** 2 / p**2 * (tile - tile.mean(dim=(1, 2), keepdim=True)).square()
    peaks = (h * w / p**2) ** 2 * torch.fft.fft2(tile).abs().square().mean(dim=0)  # (p, p)
    peaks[0, 0] = 0.0
    assert float(peaks.sum()) == pytest.approx(float(expected.sum(dim=(1, 2)).mean()), rel=1e-9)
    shell, noise = shells(p)
    by_shell = [peaks[1:, 1:].flatten()[shell == i] for i in range(int(shell.max()) + 1)]
    lattice = max(by_shell, key=lambda t: float(t.mean())).sum() / noise
    art, bg = lattice_energy(x[None], (p,))
    assert art[0, 0].tolist() == pytest.approx(
        [float(lattice), float(peaks[1:, 0].sum()), float(peaks[0, 1:].sum())], rel=1e-9
    )
    assert float(bg.max()) < 1e-12 * float(art.sum())


def test_shells_and_own_peaks() -> None:
    """Period 8 among (2, 4, 8): 49 peaks, of which the 9 with a and b even are period 4's
    (and (4, 4) period 2's); the rest fall in 7 shells by their distance from DC."""
    shell, noise = shells(8, (2, 4))
    grid = shell.view(7, 7)
    assert (grid[1::2, 1::2] == -1).all() and int((shell == -1).sum()) == 9
    assert int(shell.max()) + 1 == 7
    assert grid[0, 0] == grid[0, 6] == grid[6, 6] == grid[6, 0]  # the 4 peaks nearest DC
    assert grid[0, 1] == grid[1, 0] != grid[0, 0]
    alone, noise_alone = shells(8)  # scored alone, period 8 owns every peak: 10 shells
    assert int((alone == -1).sum()) == 0 and int(alone.max()) + 1 == 10
    assert 1 < noise < noise_alone < 3


def test_noise_maximum_is_the_mean_highest_of_gamma_means() -> None:
    gen = torch.Generator().manual_seed(0)
    sizes = (2, 2, 2, 2, 4, 4, 4)
    draws = torch.stack(
        [torch.empty(200_000, k).exponential_(generator=gen).mean(dim=1) for k in sizes]
    )
    assert noise_maximum(sizes) == pytest.approx(float(draws.amax(dim=0).mean()), rel=0.01)
    assert noise_maximum((1,)) == pytest.approx(1.0)  # one exponential: its mean


def test_lines_lie_in_the_ring_and_windows_between_peaks() -> None:
    for h, w, p in [(64, 64, 2), (96, 160, 4), (16, 256, 8), (256, 48, 8)]:
        peaks, ring, lines = plane_geometry(h, w, p)
        assert peaks.shape == ((p - 1) ** 2,)
        for i in range(len(peaks)):  # every line bin is a ring bin: no bin read for lines alone
            assert set(lines[i].flatten().tolist()) <= set(ring[i].tolist())
        for n in (h, w):
            tops, window, radius = axis_geometry(n, p)
            neighbours = axis_neighbours(n, radius)
            assert tops.shape == (p - 1,) and window.shape[0] == p - 1
            assert neighbours.shape == (n // 2 + 1, 2 * (radius[1] - radius[0] + 1))
            assert not set(window.flatten().tolist()) & set(tops.tolist())  # no peak is its window
            everything = torch.cat([tops, window.flatten(), neighbours.flatten()])
            assert int(everything.min()) >= 0 and int(everything.max()) <= n // 2


def _periods(h: int, w: int, periods: list[int]) -> tuple[int, ...]:
    kept: list[int] = []
    for p in periods:  # (a crop to a multiple of every period must still hold two of each)
        if 2 * p <= min(h, w) and math.lcm(*kept, p) <= min(h, w):
            kept.append(p)
    return tuple(kept) or (2,)


@settings(max_examples=40, deadline=None)
@given(
    h=st.integers(4, 300),
    w=st.integers(4, 300),
    c=st.sampled_from([1, 3]),
    periods=st.lists(st.integers(2, 9), min_size=1, max_size=3, unique=True),
    amplitude=st.sampled_from([0.0, 0.02, 1.0]),
    seed=st.integers(0, 2**16),
)
def test_numpy_fast_path_matches_the_torch_definition(
    h: int, w: int, c: int, periods: list[int], amplitude: float, seed: int
) -> None:
    kept = _periods(h, w, periods)
    m = math.lcm(*kept)
    h, w = h // m * m, w // m * m
    x = torch.rand(c, h, w, generator=torch.Generator().manual_seed(seed))
    p = kept[0]
    x += amplitude * (torch.arange(h)[:, None] % p == 0) * (torch.arange(w) % p == 0)
    for dtype, rtol in ((torch.float32, 2e-4), (torch.float64, 1e-9)):
        y = x.to(dtype)
        fast_art, fast_bg = lattice_energy_numpy(y.numpy(), kept)
        ref_art, ref_bg = lattice_energy(y[None], kept)
        assert fast_art.shape == (len(kept), 3) and fast_art.dtype == y.numpy().dtype
        scale = float(ref_art.max())
        np.testing.assert_allclose(fast_art, ref_art[0].numpy(), rtol=rtol, atol=rtol * scale)
        np.testing.assert_allclose(fast_bg, ref_bg[0].numpy(), rtol=rtol)


def test_a_flat_image_has_energy_zero_and_a_positive_background() -> None:
    flat = np.full((1, 64, 64), 0.5, dtype=np.float32)
    for art, bg in (
        lattice_energy(torch.from_numpy(flat)[None], (2, 4, 8)),
        lattice_energy_numpy(flat, (2, 4, 8)),
    ):
        assert float(np.abs(np.asarray(art)).max()) == 0.0 and (np.asarray(bg) > 0).all()
