"""Demucs v2: its layers, its valid lengths, and its sinc resampler against closed forms."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from checkerscope.zoo.demucs import BLSTM, Demucs, SincResample1d, center_trim

from .structure import geometry, neighbours, of_type


def test_decoder_upsamples_with_k8_s4_transposed_convolutions() -> None:
    net = Demucs(channels=8, depth=4)
    ups = of_type(net, nn.ConvTranspose1d)
    assert [geometry(m) for m in ups] == [(8, 4, 0, 0)] * 4
    assert [(m.in_channels, m.out_channels) for m in ups] == [(64, 32), (32, 16), (16, 8), (8, 8)]
    after = [a for _, a in neighbours(net, nn.ConvTranspose1d)]
    assert [type(a).__name__ for a in after] == ["ReLU", "ReLU", "ReLU", "NoneType"]
    context = [m for m in of_type(net, nn.Conv1d) if m.kernel_size == (3,)]
    assert len(context) == 4 and all(m.padding == (0,) for m in context)
    assert [geometry(m)[:2] for m in of_type(net, nn.Conv1d) if m.stride == (4,)] == [(8, 4)] * 4
    assert len(of_type(net, nn.GLU)) == 8
    lstm = of_type(net, BLSTM)[0].lstm
    assert (lstm.num_layers, lstm.bidirectional, lstm.hidden_size) == (2, True, 64)


@pytest.mark.parametrize("resample", [True, False])
def test_valid_lengths_leave_no_sample_over_and_cover_the_length(resample: bool) -> None:
    net = Demucs(channels=4, depth=3, resample=resample)
    seen: list[int] = []
    for m in of_type(net, nn.Conv1d):
        if m.stride == (4,):
            m.register_forward_hook(lambda m, args, out: seen.append(args[0].shape[-1]))
    for length in (1000, 3000):
        valid = net.valid_length(length)
        seen.clear()
        y = net(torch.randn(1, 2, valid))
        assert y.shape[:2] == (1, 8) and length <= y.shape[-1] < valid
        assert len(seen) == 3 and all((n - 8) % 4 == 0 for n in seen)


def test_weights_are_rescaled_towards_a_tenth() -> None:
    torch.manual_seed(0)
    net = Demucs()
    plain = Demucs(rescale=0)
    for ours, theirs in zip(of_type(net, nn.Conv1d), of_type(plain, nn.Conv1d), strict=True):
        expected = math.sqrt(float(theirs.weight.detach().std()) * 0.1)
        assert abs(float(ours.weight.detach().std()) / expected - 1) < 0.25


def test_upsampling_interpolates_a_band_limited_signal() -> None:
    """A tone well below the new Nyquist frequency, sampled at twice the rate, exactly."""
    n = torch.arange(600.0, dtype=torch.float64)
    x = torch.cos(0.7 * n + 0.3).view(1, 1, -1)
    up = SincResample1d(1, 2)
    y = up(x.float()).double()
    exact = torch.cos(0.35 * torch.arange(1200.0, dtype=torch.float64) + 0.3)
    assert y.shape[-1] == 1200
    assert (y[0, 0, 200:1000] - exact[200:1000]).abs().max() < 2e-3


def test_downsampling_keeps_a_low_tone_and_removes_one_above_the_new_nyquist() -> None:
    n = torch.arange(1200.0)
    low, high = torch.sin(0.2 * n), torch.sin(2.5 * n)  # 2.5 rad/sample > pi / 2
    down = SincResample1d(2, 1)
    y = down((low + high).view(1, 1, -1))[0, 0]
    assert y.shape[-1] == 600
    assert (y[100:500] - torch.sin(0.4 * torch.arange(100.0, 500.0))).abs().max() < 2e-3


def test_resampler_has_no_parameters_and_no_state() -> None:
    up = SincResample1d(1, 2)
    assert not list(up.parameters()) and not up.state_dict()
    assert up.kernel.shape == (2, 1, 2 * up.width + 1)
    torch.testing.assert_close(SincResample1d(3, 3)(torch.ones(1, 1, 5)), torch.ones(1, 1, 5))


def test_center_trim_and_its_error() -> None:
    assert center_trim(torch.arange(8), 5).tolist() == [1, 2, 3, 4, 5]
    with pytest.raises(ValueError, match=r"^cannot trim a signal of 3 samples to 4$"):
        center_trim(torch.arange(3), 4)
