"""Power spectra (analysis.spectra): the linear power and the high-frequency fraction."""

from __future__ import annotations

import math

import pytest
import torch

from checkerscope.analysis.spectra import hf_fraction, periodic_smooth, power_spectrum, spectrum


def test_hf_fraction_of_pure_frequencies() -> None:
    # Cosines symmetric about the centre: periodic on the grid with equal first and last
    # samples, so the periodic-plus-smooth split leaves them as they are.
    y, x = torch.meshgrid(torch.arange(32.0) - 15.5, torch.arange(32.0) - 15.5, indexing="ij")
    low = torch.cos(2 * math.pi * 3 * x / 32)  # 3/32 cycles per pixel
    high = torch.cos(2 * math.pi * 12 * y / 32)  # 12/32 > 1/4
    both = torch.stack([low, high, low + high])[:, None]
    frac = hf_fraction(both)
    assert frac[0] == pytest.approx(0.0, abs=1e-9)
    assert frac[1] == pytest.approx(1.0, abs=1e-9)
    assert frac[2] == pytest.approx(0.5, abs=1e-6)


def test_power_spectrum_is_the_spectrum_before_its_log() -> None:
    x = torch.rand(2, 3, 16, 20, dtype=torch.float64)
    power = power_spectrum(x)
    assert power.shape == (2, 16, 20)
    assert torch.allclose(10 * torch.log10(power + 1e-12), spectrum(x).log_power)
    # Parseval: the power, normalized by the pixel count, sums to the periodic part's energy.
    part, _ = periodic_smooth(x)
    energy = part.square().sum(dim=(-2, -1)).mean(dim=1)
    assert torch.allclose(power.sum(dim=(-2, -1)), energy)


def test_hf_fraction_of_a_flat_image_is_the_share_of_bins_above_the_cutoff() -> None:
    flat = torch.full((1, 3, 16, 16), 0.3)
    f = torch.fft.fftfreq(16, dtype=torch.float64)
    radius = torch.hypot(f[:, None], f[None, :])
    share = int((radius > 0.25).sum()) / int((radius > 0).sum())
    assert float(hf_fraction(flat)) == pytest.approx(share, rel=1e-9)
