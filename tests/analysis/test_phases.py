"""Phase measures (analysis.phases): against loops, known patterns and the overlap count."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from checkerscope.analysis.gradients import input_gradient
from checkerscope.analysis.phases import (
    checkerboard_amplitude,
    phase_contrast,
    phase_means,
    phase_ratio,
)


def test_phase_means_against_a_loop() -> None:
    x = torch.randn(2, 3, 13, 11, dtype=torch.float64)
    m = phase_means(x, 3, margin=1)
    inner = x[..., 1:-1, 1:-1][..., :9, :9]
    for a in range(3):
        for b in range(3):
            expected = inner[..., a::3, b::3].mean(dim=(-2, -1))
            assert torch.allclose(m[..., a, b], expected)
    with pytest.raises(ValueError, match="no whole period"):
        phase_means(torch.zeros(1, 1, 4, 4), 5)


def test_phase_means_refuse_bad_arguments() -> None:
    with pytest.raises(ValueError, match=r"^period must be a positive integer, got 0$"):
        phase_means(torch.zeros(1, 1, 4, 4), 0)
    with pytest.raises(ValueError, match=r"^margin must be a non-negative integer, got -1$"):
        phase_means(torch.zeros(1, 1, 4, 4), 2, margin=-1)
    message = r"^x must be a tensor of shape \(B, C, H, W\), got \(4, 4\)$"
    with pytest.raises(ValueError, match=message):
        phase_means(torch.zeros(4, 4), 2)


def test_checkerboard_amplitude_of_a_known_pattern() -> None:
    x = torch.full((1, 3, 24, 24), 0.5)
    x[..., ::2, ::2] += 0.4  # phase means (0.9, 0.5, 0.5, 0.5) at period 2 and 4
    expected = 0.4 * math.sqrt(3 / 16)
    assert checkerboard_amplitude(x, 2, margin=2).item() == pytest.approx(expected, rel=1e-5)
    assert checkerboard_amplitude(x, 4, margin=4).item() == pytest.approx(expected, rel=1e-5)
    flat = torch.full((2, 3, 16, 16), 0.7)
    assert checkerboard_amplitude(flat, 4, margin=4).abs().max() < 1e-7


def test_checkerboard_amplitude_ignores_the_margin() -> None:
    x = torch.zeros(1, 1, 12, 12)
    x[..., :2, :] = torch.randn(2, 12)  # a border frame, as padding paints
    assert checkerboard_amplitude(x, 2) > 0
    assert checkerboard_amplitude(x, 2, margin=2) == 0


def test_phase_contrast_zero_for_nearest_and_large_for_a_checkerboard() -> None:
    torch.manual_seed(0)
    held = F.interpolate(torch.randn(4, 3, 16, 16), scale_factor=2, mode="nearest")
    assert phase_contrast(held).abs().max() < 1e-5
    noise = torch.randn(64, 3, 32, 32)
    assert phase_contrast(noise).mean() == pytest.approx(math.sqrt(3 / 4), rel=0.15)
    board = noise.clone()
    board[..., ::2, ::2] += 1.0
    # Phase means (0.75, -0.25, -0.25, -0.25): RMS sqrt(3/16), over std/sqrt(256) pixels.
    expected = math.sqrt(3 / 16) * 16 / board.flatten(1).std(dim=1)
    assert torch.allclose(phase_contrast(board), expected, rtol=0.2)


def test_phase_ratio_of_a_k3_s2_conv_is_the_squared_overlap_ratio() -> None:
    # All-ones 3x3 stride-2 conv: each pixel's gradient counts the windows covering it, 1 or 2
    # per axis, so the gradient energies of the four phases are 1, 4, 4, 16.
    conv = nn.Conv2d(1, 1, 3, stride=2, padding=1, bias=False)
    nn.init.ones_(conv.weight)
    g = input_gradient(conv, torch.rand(2, 1, 16, 16))
    assert set(g[0, 0, 2:-2, 2:-2].unique().tolist()) == {1.0, 2.0, 4.0}
    assert phase_ratio(g, period=2, margin=2) == pytest.approx(16.0)
    avg = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.AvgPool2d(2))
    assert phase_ratio(input_gradient(avg, torch.rand(2, 1, 16, 16)), 2, 2) < 16.0
