from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn

from checkerscope.analysis import frequency_response, phase_imbalance
from checkerscope.nn import ResizeConv1d, ResizeConv2d, SubPixelConv2d

UPSAMPLERS = {
    "deconv k3 s2": lambda: nn.ConvTranspose2d(3, 2, 3, 2, 1, output_padding=1),
    "deconv k4 s2": lambda: nn.ConvTranspose2d(3, 2, 4, 2, 1),
    "deconv k5 s3": lambda: nn.ConvTranspose2d(2, 2, 5, 3, 1),
    "resize-conv": lambda: ResizeConv2d(3, 2, 3),
    "resize-conv bilinear s3": lambda: ResizeConv2d(2, 2, 3, scale_factor=3, mode="bilinear"),
    "sub-pixel default": lambda: SubPixelConv2d(2, 3, 3, init="default"),
}


@pytest.mark.parametrize("name", UPSAMPLERS)
def test_response_at_multiples_of_n_over_s_is_the_phase_dft_of_the_tap_sums(name):
    """Two computations: FFT of the layer's impulse response, and its weights summed by phase."""
    torch.manual_seed(0)
    layer = UPSAMPLERS[name]()
    magnitude = frequency_response(layer, 12)
    pairs = phase_imbalance(layer).pair_response  # (C_out, C_in, s, s)
    s = pairs.shape[-1]
    n = magnitude.shape[0]
    assert magnitude.shape == (n, n) and n % s == 0
    roots = torch.exp(-2j * math.pi * torch.arange(s, dtype=torch.float64) / s)
    for mh, mw in itertools.product(range(s), repeat=2):
        wave = (roots**mh)[:, None] * (roots**mw)[None, :]
        dft = (pairs * wave).sum(dim=(-2, -1))
        expected = dft.abs().pow(2).mean().sqrt()
        torch.testing.assert_close(
            magnitude[mh * n // s, mw * n // s], expected, atol=1e-12, rtol=1e-9
        )


def test_deconvolution_keeps_energy_where_nearest_resize_conv_has_zeros():
    torch.manual_seed(0)
    deconv = frequency_response(nn.ConvTranspose2d(4, 4, 3, 2, 1, output_padding=1), 16)
    resize = frequency_response(ResizeConv2d(4, 4, 3), 16)
    n = deconv.shape[0]
    for peak in ((n // 2, 0), (0, n // 2), (n // 2, n // 2)):
        assert resize[peak] < 1e-12 * resize.max()
        assert deconv[peak] > 0.1 * deconv[0, 0]


def test_shape_follows_the_output_in_1d():
    magnitude = frequency_response(ResizeConv1d(2, 2, 3, scale_factor=3), 10)
    assert magnitude.shape == (30,)
    assert magnitude.dtype == torch.float64


def test_energy_is_parseval_of_the_impulse_response():
    torch.manual_seed(0)
    layer = nn.ConvTranspose2d(1, 1, 3, 2, bias=False)
    magnitude = frequency_response(layer, 9)
    impulse = torch.zeros(1, 1, 9, 9)
    impulse[0, 0, 4, 4] = 1.0
    with torch.no_grad():
        out = layer(impulse).double()
    assert magnitude.pow(2).sum() / magnitude.numel() == pytest.approx(out.pow(2).sum().item())


def test_bad_input():
    with pytest.raises(ValueError, match="size must be a positive integer, got 0"):
        frequency_response(nn.ConvTranspose2d(1, 1, 3, 2), 0)
    with pytest.raises(ValueError, match=r"size \(2, 2\) does not run through the layer"):
        frequency_response(nn.Conv2d(1, 1, 5), 2)
