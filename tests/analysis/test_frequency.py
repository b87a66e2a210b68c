from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from checkerscope.analysis import frequency_response, phase_imbalance
from checkerscope.analysis.frequency import interpolation_response, upsampler_response
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


def dtft(taps: np.ndarray, frequency: torch.Tensor, sample_rate: float) -> torch.Tensor:
    """|sum_k h[k] e^{-2 pi i f k / fs}| by brute force."""
    k = np.arange(len(taps))
    w = 2 * np.pi * frequency.numpy()[:, None] / sample_rate
    return torch.from_numpy(np.abs((taps * np.exp(-1j * w * k)).sum(-1)))


@pytest.mark.parametrize("s", [2, 3, 4, 5, 6, 8])
def test_closed_forms_are_the_spectra_of_the_interpolation_kernels(s: int) -> None:
    """Nearest holds each sample s times (a box); linear with half-sample centres is the
    triangle 1 - |t|/s at t = k - (s - 1)/2: box * box / s for odd s, box * box * [1, 1] / 2s
    for even s (s = 2: [1, 3, 3, 1] / 4). Both kernels are also read off torch itself."""
    f = torch.linspace(0, 24000, 97, dtype=torch.float64)
    box = np.ones(s)
    t = np.arange(-s, 2 * s) - (s - 1) / 2
    triangle = np.clip(1 - np.abs(t) / s, 0, None)
    by_parts = np.convolve(box, box) / s
    if s % 2 == 0:
        by_parts = np.convolve(by_parts, [0.5, 0.5])
    np.testing.assert_allclose(triangle[triangle > 0], by_parts[by_parts > 0])
    impulse = torch.zeros(1, 1, 9, dtype=torch.float64)
    impulse[..., 4] = 1.0
    for mode, taps in (("nearest", box), ("linear", triangle)):
        layer = F.interpolate(impulse, scale_factor=s, mode=mode)[0, 0]
        np.testing.assert_allclose(layer[layer > 0].numpy(), taps[taps > 0], atol=1e-12)
        expected = dtft(taps, f, 48000)
        torch.testing.assert_close(interpolation_response(mode, s, f, 48000), expected)
    torch.testing.assert_close(interpolation_response("zeros", s, f, 48000), torch.ones_like(f))


@pytest.mark.parametrize("mode", ["nearest", "linear"])
@pytest.mark.parametrize("s", [2, 3, 4, 8])
def test_interpolation_silences_the_tones_and_dims_the_top_band(mode: str, s: int) -> None:
    fs = 48000
    tones = torch.arange(1, s + 1, dtype=torch.float64) * fs / s  # fs / s ... fs
    gain = interpolation_response(mode, s, tones, fs) / s
    assert (gain[:-1] < 1e-12).all() and float(gain[-1]) == pytest.approx(1.0)
    top = float(interpolation_response(mode, s, torch.tensor(fs / (2 * s)), fs)) / s
    nearest = 1 / (s * math.sin(math.pi / (2 * s)))  # |D_s| / s at w = pi / 2s
    linear = nearest**2 * (math.cos(math.pi / (2 * s)) if s % 2 == 0 else 1)
    assert top == pytest.approx(nearest if mode == "nearest" else linear, rel=1e-12)
    if s == 2:
        decibels = {"nearest": -3.0103, "linear": -9.0309}[mode]
        assert 20 * math.log10(top) == pytest.approx(decibels, abs=1e-4)


UPSAMPLERS_1D = {
    "nearest x2": lambda: nn.Upsample(scale_factor=2),
    "nearest-exact x3": lambda: nn.Upsample(scale_factor=3, mode="nearest-exact"),
    "linear x2": lambda: nn.Upsample(scale_factor=2, mode="linear"),
    "linear x3": lambda: nn.Upsample(scale_factor=3.0, mode="linear"),
    "linear x4": lambda: nn.Upsample(scale_factor=4, mode="linear", align_corners=False),
    "resize-conv": lambda: ResizeConv1d(3, 2, 3),
    "resize-conv linear x4": lambda: ResizeConv1d(2, 3, 5, scale_factor=4, mode="bilinear"),
    "deconv k4 s2": lambda: nn.ConvTranspose1d(3, 2, 4, 2, 1),
    "deconv k16 s8": lambda: nn.ConvTranspose1d(2, 2, 16, 8, 4),
    "deconv groups": lambda: nn.ConvTranspose1d(4, 6, 8, 4, 2, groups=2),
    "deconv dilated": lambda: nn.ConvTranspose1d(2, 2, 3, 2, 2, output_padding=1, dilation=2),
    "zero insertion x4": lambda: nn.ConvTranspose1d(1, 1, 1, 4, output_padding=3, bias=False),
}


@pytest.mark.parametrize("name", UPSAMPLERS_1D)
def test_measured_responses_equal_their_closed_forms(name: str) -> None:
    torch.manual_seed(0)
    layer = UPSAMPLERS_1D[name]()
    if name.startswith("zero"):
        nn.init.ones_(layer.weight)
    r = upsampler_response(layer, 22050, size=48)
    n = 48 * r.scale_factor
    assert r.frequency.shape == r.measured.shape == (n // 2 + 1,)
    assert float(r.frequency[-1]) == 11025.0
    assert r.closed_form is not None
    torch.testing.assert_close(r.measured, r.closed_form, atol=1e-12, rtol=1e-9)


def test_layers_without_a_closed_form_are_still_measured() -> None:
    layer = nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv1d(1, 1, 3, padding=1))
    r = upsampler_response(layer, 16000)
    assert r.closed_form is None and r.scale_factor == 2 and r.measured.shape == (65,)
    r = upsampler_response(nn.Upsample(scale_factor=2, mode="linear", align_corners=True), 8000)
    assert r.closed_form is None  # corners aligned: the kernel depends on the size


def test_bad_upsamplers_are_named() -> None:
    with pytest.raises(ValueError, match="layer must be a 1-D upsampler, got ConvTranspose2d"):
        upsampler_response(nn.ConvTranspose2d(1, 1, 4, 2, 1), 16000)
    with pytest.raises(ValueError, match="layer must map 64 samples to an integer multiple > 1"):
        upsampler_response(nn.Conv1d(1, 1, 3, padding=1), 16000)
    with pytest.raises(ValueError, match="mode must be one of 'zeros', 'nearest', 'linear'"):
        interpolation_response("cubic", 2, torch.zeros(1), 16000)
