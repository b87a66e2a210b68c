"""How close a synthesized waveform is to its reference: signal-to-distortion ratio and
log-spectral distance, the objective measures audio super-resolution and separation report.

Pons et al. (2021, 2023) put an objective measure (SDR) beside listening tests (MOS) for each
upsampler; Kuleshov, Enam & Ermon (2017), "Audio super resolution using neural networks",
ICLR workshop, report SNR and the log-spectral distance (LSD). Both are computed here from
their definitions, per item of a batch, channels pooled.
"""

from __future__ import annotations

import torch

from checkerscope.analysis.spectra import as_batch
from checkerscope.analysis.spectrograms import WINDOW, spectrogram


def _pair(estimate: torch.Tensor, reference: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    est, ref = as_batch("estimate", estimate, 1), as_batch("reference", reference, 1)
    if est.shape != ref.shape:
        raise ValueError(
            f"estimate and reference must have the same shape, got {tuple(estimate.shape)} "
            f"and {tuple(reference.shape)}"
        )
    return est, ref


def signal_to_distortion(estimate: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """``10 log10(sum ref**2 / sum (ref - est)**2)`` per item, in dB: (B, C, L) -> (B,).

    The plain ratio (the SNR of Kuleshov et al.): no gain or filter is fitted first, unlike BSS
    Eval's SDR (Vincent et al. 2006) that Pons et al. report, so values compare between
    upsamplers here, not with their table. An exact copy gives ``inf``, silence ``-inf``.

    Example:
        >>> ref = torch.ones(1, 1, 100)
        >>> round(float(signal_to_distortion(ref * 0.9, ref)), 3)  # an error of 0.1: 20 dB
        20.0
    """
    est, ref = _pair(estimate, reference)
    power = ref.double().square().sum(dim=(1, 2))
    error = (ref.double() - est.double()).square().sum(dim=(1, 2))
    return (10 * torch.log10(power / error)).to(ref.dtype)


def log_spectral_distance(
    estimate: torch.Tensor, reference: torch.Tensor, sample_rate: float = 1.0, window: int = WINDOW
) -> torch.Tensor:
    """Root mean square difference of the log power spectra, mean over frames, in dB: (B,).

    ``LSD = mean_t sqrt(mean_f (S_ref(t, f) - S_est(t, f))**2)`` with ``S`` the
    :func:`~checkerscope.analysis.spectrograms.spectrogram` in dB (Hann frames of ``window``
    samples, half overlapping, channels' powers averaged, silence floored at -120 dB);
    Kuleshov et al. (2017) use the same with ``log10`` instead of decibels (a tenth of it).
    ``sample_rate`` only labels the frames and does not change the value.

    Example:
        >>> ref = torch.randn(1, 1, 4096, generator=torch.Generator().manual_seed(0))
        >>> lsd = log_spectral_distance(ref / 10, ref)  # every bin 20 dB down
        >>> float(log_spectral_distance(ref, ref)), round(float(lsd), 3)
        (0.0, 20.0)
    """
    est, ref = _pair(estimate, reference)
    a = spectrogram(est, sample_rate, window).decibels
    b = spectrogram(ref, sample_rate, window).decibels
    return (a - b).square().mean(dim=1).sqrt().mean(dim=-1)
