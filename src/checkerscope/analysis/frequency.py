"""Where a layer puts its energy in frequency: the magnitude of its impulse response's spectrum.

An upsampler by s writes its output through a zero-stuffed copy of the input, whose spectrum
repeats every N/s (N the output size). A smooth input therefore lands near the multiples of
N/s, weighted by the layer's response there: a deconvolution keeps energy at those
checkerboard frequencies, a nearest resize-convolution has zeros there (its s-wide hold).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from checkerscope.analysis import layers as L


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
