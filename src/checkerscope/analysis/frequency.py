"""Where a layer puts its energy in frequency: the magnitude of its impulse response's spectrum.

An upsampler by s writes its output through a zero-stuffed copy of the input, whose spectrum
repeats every N/s (N the output size). A smooth input therefore lands near the multiples of
N/s, weighted by the layer's response there: a deconvolution keeps energy at those
checkerboard frequencies, a nearest resize-convolution has zeros there (its s-wide hold).

For 1-D upsamplers of sound the same response, in Hz at the output rate ``fs``, shows the
filtering artifacts of Pons et al. (2021), "Upsampling artifacts in neural audio synthesis",
ICASSP: interpolation is zero insertion followed by a fixed filter, whose closed form
(:func:`interpolation_response`) the measured response must match.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import nn

from checkerscope import checks as v
from checkerscope.analysis import layers as L
from checkerscope.nn import ResizeConv1d

INTERPOLATIONS = ("zeros", "nearest", "linear")
"""Upsampling rules with a closed-form response: zero insertion, nearest (zero-order hold) and
linear interpolation with half-sample centres (``align_corners=False``)."""


def frequency_response(
    layer: nn.Module, size: int | Sequence[int], *, in_channels: int | None = None
) -> torch.Tensor:
    """Magnitude response of a linear layer on its output grid, RMS over channel pairs.

    A unit impulse on input channel c at the centre of an input of spatial ``size`` goes
    through a float64 copy of the layer (bias excluded); ``H[o, c]`` is the n-D DFT of output
    channel o, and the result is ``sqrt(mean over (o, c) of |H[o, c]|**2)``, float64, of the
    output's spatial shape, DC at index 0 (not shifted). For a layer that moves its output by
    s samples when its input moves by one (every upsampler here), all input positions give the
    same magnitude, so this is also the output spectrum for white-noise input up to a constant.
    At frequency ``m * N / s`` (per axis) it equals the DFT over phases of
    :func:`~checkerscope.analysis.phase_imbalance`'s pair responses. Choose ``size`` larger than
    the kernel so the impulse response does not reach the borders. An int ``size`` means that
    size on every axis.

    Example:
        >>> m = torch.nn.ConvTranspose2d(1, 1, 4, stride=2, padding=1)
        >>> frequency_response(m, 8).shape
        torch.Size([16, 16])
    """
    lin = L.linear_copy(layer)
    shape = L.spatial_size("size", size, L.model_dims(layer))
    channels = L.input_channels(layer, in_channels)
    impulses = torch.zeros(channels, channels, *shape, dtype=torch.float64)
    centre = tuple(n // 2 for n in shape)
    for c in range(channels):
        impulses[(c, c, *centre)] = 1.0
    out = L.check_forward("size", lin, impulses)
    spatial = tuple(range(2, out.dim()))
    power = torch.fft.fftn(out, dim=spatial).abs().pow(2)
    return power.mean(dim=(0, 1)).sqrt()


def interpolation_response(
    mode: str, scale_factor: int, frequency: torch.Tensor, sample_rate: float
) -> torch.Tensor:
    """Closed-form magnitude response of upsampling by ``s``, at ``frequency`` (Hz, any shape).

    ``sample_rate`` is the output rate ``fs``; with ``w = pi * f / fs`` and the Dirichlet
    kernel ``D_s = sin(s w) / sin(w)`` (``s`` where ``sin(w) = 0``)::

        zeros:   |H| = 1                           (y[s n] = x[n], zeros between)
        nearest: |H| = |D_s|                       (zeros, then a box of s ones)
        linear:  |H| = D_s**2 / s                  (odd s: a triangle of 2s - 1 taps)
                 |H| = D_s**2 * |cos(w)| / s       (even s: box * box * [1, 1] / (2s))

    Derivation: nearest repeats each sample s times, the box ``sum_{k<s} e^{-2iwk}`` of
    modulus ``|D_s|``. Linear interpolation with ``align_corners=False`` reads output ``n`` at
    input position ``(n + 1/2)/s - 1/2``, so its impulse response is the triangle
    ``1 - |t|/s`` at ``t = k - (s - 1)/2``: at integer ``t`` for odd s, the box convolved with
    itself over s; at half-integer ``t`` for even s, that and a two-tap average (s = 2:
    ``[1, 3, 3, 1] / 4``). Both interpolations have DC gain s, which restores the amplitude
    that zero insertion divides by s, and vanish at the multiples of ``fs / s``, the tones of a
    stride-s pattern: nearest to first order, linear to second. At the original Nyquist
    frequency ``fs / (2s)`` they attenuate by ``1 / (s sin(pi / 2s))`` (-3.0 dB at s = 2) and
    ``cos(pi / 4) / 2`` (-9.0 dB at s = 2): the filtering artifacts.

    Example:
        >>> f = torch.tensor([0.0, 2000.0, 4000.0])  # DC, original Nyquist, stride-2 tone
        >>> [round(float(g), 4) for g in interpolation_response("nearest", 2, f, 8000)]
        [2.0, 1.4142, 0.0]
    """
    v.one_of("mode", mode, INTERPOLATIONS)
    s = v.scale_factor("scale_factor", scale_factor)
    fs = v.positive_number("sample_rate", sample_rate)
    f = torch.as_tensor(frequency, dtype=torch.float64)
    if mode == "zeros":
        return torch.ones_like(f)
    w = math.pi * f / fs
    sin_w = torch.sin(w)
    on_pole = sin_w.abs() < 1e-12
    # At the poles (f a multiple of fs) the ratio tends to +-s.
    dirichlet = torch.where(on_pole, s, torch.sin(s * w) / torch.where(on_pole, 1, sin_w)).abs()
    if mode == "nearest":
        return dirichlet
    linear = dirichlet.square() / s
    return linear * torch.cos(w).abs() if s % 2 == 0 else linear


class UpsamplerResponse(NamedTuple):
    """Output of :func:`upsampler_response`: ``frequency`` (K,) in Hz from 0 to ``fs / 2``,
    ``measured`` (K,) the layer's :func:`frequency_response` there, ``closed_form`` (K,) the
    same from the layer's definition (``None`` for layers without one) and ``scale_factor``."""

    frequency: torch.Tensor
    measured: torch.Tensor
    closed_form: torch.Tensor | None
    scale_factor: int


def upsampler_response(
    layer: nn.Module, sample_rate: float, size: int = 64, *, in_channels: int | None = None
) -> UpsamplerResponse:
    """The response of a 1-D upsampler in Hz, measured and, where known, in closed form.

    ``measured`` is :func:`frequency_response` of ``layer`` on an input of ``size`` samples
    (its first ``N // 2 + 1`` bins, ``N = s * size`` the output length), at frequencies
    ``k * sample_rate / N``; ``sample_rate`` is the output rate. ``closed_form`` follows from
    the layer's type, RMS over channel pairs as the measurement is:

    - ``nn.Upsample`` (integer scale; nearest, or linear without ``align_corners``):
      :func:`interpolation_response`;
    - :class:`~checkerscope.nn.ResizeConv1d`: that times the kernels' spectra ``|W(e^{2iw})|``;
    - ``nn.ConvTranspose1d``: zero insertion, then the kernels (``dilation`` spaces the taps).

    Example:
        >>> r = upsampler_response(torch.nn.Upsample(scale_factor=2), sample_rate=16000)
        >>> r.frequency.shape, bool(torch.allclose(r.measured, r.closed_form))
        (torch.Size([65]), True)
    """
    fs = v.positive_number("sample_rate", sample_rate)
    if L.model_dims(layer) not in (None, 1):
        raise ValueError(f"layer must be a 1-D upsampler, got {type(layer).__name__}")
    size = v.positive_int("size", size)
    full = frequency_response(layer, size, in_channels=in_channels)
    n = full.shape[-1]
    if full.dim() != 1 or n % size or n == size:
        raise ValueError(
            f"layer must map {size} samples to an integer multiple > 1 of them, got {n}"
        )
    frequency = torch.arange(n // 2 + 1, dtype=torch.float64) * fs / n
    closed = _closed_form(layer, frequency, fs)
    return UpsamplerResponse(frequency, full[: n // 2 + 1], closed, n // size)


def _closed_form(
    layer: nn.Module, frequency: torch.Tensor, sample_rate: float
) -> torch.Tensor | None:
    """:func:`upsampler_response`'s ``closed_form`` of ``layer`` at ``frequency`` (Hz)."""
    if isinstance(layer, nn.Upsample):
        scale = layer.scale_factor
        scale = scale[0] if isinstance(scale, tuple) else scale
        linear = layer.mode == "linear" and not layer.align_corners
        if scale is None or float(scale) != int(scale) or not (linear or "nearest" in layer.mode):
            return None
        mode = "linear" if linear else "nearest"
        return interpolation_response(mode, int(scale), frequency, sample_rate)
    if isinstance(layer, ResizeConv1d):
        mode = "nearest" if layer.mode == "nearest" else "linear"
        hold = interpolation_response(mode, layer.scale_factor, frequency, sample_rate)
        return hold * _kernels(layer, frequency, sample_rate, dilation=1)
    if isinstance(layer, nn.ConvTranspose1d):
        return _kernels(layer, frequency, sample_rate, dilation=layer.dilation[0])
    return None


def _kernels(
    layer: nn.Module, frequency: torch.Tensor, sample_rate: float, dilation: int
) -> torch.Tensor:
    """RMS over all (input, output) channel pairs of ``|sum_j w[j] e^{-2 pi i f j d / fs}|``,
    pairs that ``groups`` leave unconnected counting as zero, as they do in the measurement."""
    weight = layer.weight.detach().to(torch.float64).flatten(0, 1)  # (pairs, k)
    taps = torch.arange(weight.shape[-1], dtype=torch.float64) * dilation
    phase = -2 * math.pi * frequency[:, None] * taps / sample_rate
    spectrum = torch.polar(torch.ones_like(phase), phase) @ weight.T.to(torch.complex128)
    power = spectrum.abs().square().sum(-1) / (layer.in_channels * layer.out_channels)
    return power.sqrt()
