"""Spectral replicas: the images of a low-rate spectrum that upsampling puts above its Nyquist.

Pons et al. (2021), "Upsampling artifacts in neural audio synthesis", ICASSP. Zero insertion
(the first step of a transposed convolution, ``y[s n] = x[n]`` and zeros between) has the
spectrum ``Y(f) = X(f)`` repeated every ``fs / s``: the band below the original Nyquist
frequency ``fs / (2s)`` comes back, mirrored and shifted, ``s - 1`` times above it.
Interpolation filters those images (nearest by ``|D_s|``, linear by about ``D_s**2``, see
:func:`checkerscope.analysis.frequency.interpolation_response`); what is left of them in the
output is measured here, on any signal, as the power above ``fs / (2s)`` against that below.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from checkerscope import checks as v
from checkerscope.analysis.spectra import as_batch
from checkerscope.analysis.spectrograms import WINDOW, average_spectrum


def zero_insertion(x: torch.Tensor, scale_factor: int) -> torch.Tensor:
    """Upsample by inserting ``s - 1`` zeros after every sample: (B, C, L) -> (B, C, s L).

    ``y[..., s * n] = x[..., n]``; (C, L) input gives (C, s L). Equals
    ``conv_transpose1d`` with a one-tap kernel of 1, stride s and ``output_padding = s - 1``.

    Example:
        >>> zero_insertion(torch.tensor([[1.0, 2.0]]), 3)
        tensor([[1., 0., 0., 2., 0., 0.]])
    """
    s = v.scale_factor("scale_factor", scale_factor)
    batch = as_batch("x", x, 1)
    out = torch.zeros(*batch.shape[:-1], batch.shape[-1], s, dtype=batch.dtype, device=x.device)
    out[..., 0] = batch
    return out.flatten(-2).view(*x.shape[:-1], -1)


class ReplicaEnergy(NamedTuple):
    """Output of :func:`replica_energy`, each (B,): ``base`` the power below the original
    Nyquist frequency (DC excluded), ``image`` the power above it, ``level_db``
    ``10*log10(image / base)``."""

    base: torch.Tensor
    image: torch.Tensor
    level_db: torch.Tensor


def replica_energy(y: torch.Tensor, scale_factor: int, window: int = WINDOW) -> ReplicaEnergy:
    """How much of an upsampled signal lies in the image bands: (B, C, L) -> (B,) each.

    From Welch's :func:`~checkerscope.analysis.spectrograms.average_spectrum` of ``y`` (Hann
    frames of ``window`` samples): ``base`` sums the bins ``0 < f < fs / (2s)``, ``image``
    those above; a bin exactly on the edge counts in neither. On white noise upsampled by s,
    zero insertion gives ``level_db = 10*log10(s - 1)`` (0 dB at s = 2), nearest -6.5 dB and
    linear -14.7 dB at s = 2 (the integrals of the squared closed-form responses).

    Example:
        >>> x = torch.randn(1, 1, 4096, generator=torch.Generator().manual_seed(0))
        >>> float(replica_energy(zero_insertion(x, 2), 2).level_db) > -1  # about 0 dB
        True
    """
    s = v.scale_factor("scale_factor", scale_factor)
    if s < 2:
        raise ValueError(f"scale_factor must be at least 2 to leave image bands, got {s}")
    spectrum = average_spectrum(y, 1.0, window)
    f = spectrum.frequency
    edge = 0.5 / s
    base = spectrum.power[:, (f > 0) & (f < edge)].sum(-1)
    image = spectrum.power[:, f > edge].sum(-1)
    return ReplicaEnergy(base, image, 10 * torch.log10(image / base))
