"""Spectral replicas: zero insertion as a transposed convolution, the replica level of white
noise against the closed-form responses, and the order zero insertion > nearest > linear on
the embedded sounds."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from checkerscope import sounds
from checkerscope.analysis.frequency import interpolation_response
from checkerscope.analysis.replicas import replica_energy, zero_insertion

UPSAMPLE = {
    "zeros": zero_insertion,
    "nearest": lambda x, s: F.interpolate(x, scale_factor=s, mode="nearest"),
    "linear": lambda x, s: F.interpolate(x, scale_factor=s, mode="linear"),
}


@pytest.mark.parametrize("s", [2, 3, 4, 8])
def test_zero_insertion_is_a_one_tap_transposed_convolution(s: int) -> None:
    x = torch.randn(2, 3, 17)
    one = torch.ones(3, 1, 1)
    expected = F.conv_transpose1d(x, one, stride=s, output_padding=s - 1, groups=3)
    torch.testing.assert_close(zero_insertion(x, s), expected)
    torch.testing.assert_close(zero_insertion(x[0], s), expected[0])


def white_noise_level(mode: str, s: int) -> float:
    """Image over base power of white noise upsampled by s: integrals of |H|**2."""
    f = torch.linspace(0, 0.5, 200001, dtype=torch.float64)[1:]
    power = interpolation_response(mode, s, f, 1.0).square()
    base, image = power[f < 0.5 / s].sum(), power[f > 0.5 / s].sum()
    return float(10 * torch.log10(image / base))


@pytest.mark.parametrize("s", [2, 3, 4])
@pytest.mark.parametrize("mode", list(UPSAMPLE))
def test_white_noise_replicas_match_the_closed_forms(mode: str, s: int) -> None:
    x = torch.randn(4, 1, 2**17, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    measured = replica_energy(UPSAMPLE[mode](x, s), s).level_db.mean()
    assert float(measured) == pytest.approx(white_noise_level(mode, s), abs=0.25)


def test_the_closed_form_levels_at_two() -> None:
    assert white_noise_level("zeros", 2) == pytest.approx(0, abs=1e-3)
    expected = {
        "nearest": (math.pi / 4 - 1 / 2) / (math.pi / 4 + 1 / 2),  # integrals of cos^2
        "linear": 0.01627 / 0.47460,  # of cos^6
    }
    for mode, ratio in expected.items():
        assert white_noise_level(mode, 2) == pytest.approx(10 * math.log10(ratio), abs=0.01)


@pytest.mark.parametrize("s", [2, 4])
def test_interpolation_attenuates_the_replicas_of_sound(s: int) -> None:
    for name, x in sounds.embedded(48000 // s, 2.0, seed=0).items():
        levels = [float(replica_energy(UPSAMPLE[m](x[None], s), s).level_db) for m in UPSAMPLE]
        assert levels[0] > levels[1] + 3 > levels[2] + 6, (name, levels)


def test_bad_scale_is_named() -> None:
    with pytest.raises(ValueError, match="scale_factor must be at least 2 to leave image bands"):
        replica_energy(torch.randn(1, 1, 4096), 1)
    with pytest.raises(ValueError, match="scale_factor must be an integer >= 1, got 0"):
        zero_insertion(torch.randn(1, 1, 8), 0)
