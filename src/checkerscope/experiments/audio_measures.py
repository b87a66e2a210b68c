"""What one seed of the ``audio`` experiment measures without training: the tones of random-init
super-resolvers, the band the interpolations attenuate (measured on the sounds and computed
from the closed forms), an exact check of a resize-convolution's response, and the replicas."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from checkerscope.analysis.frequency import interpolation_response, upsampler_response
from checkerscope.analysis.replicas import replica_energy, zero_insertion
from checkerscope.analysis.spectrograms import average_spectrum
from checkerscope.experiments import config as C
from checkerscope.experiments.audio_networks import SuperResolver, clip_pairs, tone_summary
from checkerscope.nn import ResizeConv1d
from checkerscope.sounds import SoundSource

BAND = (0.5, 1.0)
"""The band compared, as fractions of the original Nyquist frequency: its top octave."""


def band_attenuation(
    low: torch.Tensor, high: torch.Tensor, mode: str, rate: int
) -> tuple[float, float]:
    """(measured, closed-form) attenuation in dB of :data:`BAND` of the clips ``low`` (at half
    ``rate``) upsampled by ``mode`` into ``high`` (at ``rate``), powers pooled over the clips.

    Welch frames of 512 samples at the low rate and 1024 at the output rate span the same time
    and share their bin frequencies, so the measured ratio reads the response directly; the
    closed form weighs ``(|H| / 2)**2`` (:func:`interpolation_response`, whose DC gain 2
    undoes zero insertion's halving) by the input's own spectrum over the band.
    """
    px, py = average_spectrum(low, rate // 2, 512), average_spectrum(high, rate, 1024)
    f = px.frequency
    band = (f >= BAND[0] * rate / 4) & (f < BAND[1] * rate / 4)
    x, y = px.power.sum(0)[band], py.power.sum(0)[: f.numel()][band]
    gain = (interpolation_response(mode, 2, f[band], rate) / 2).square().to(x.dtype)
    measured = 10 * torch.log10(x.sum() / y.sum())
    closed = 10 * torch.log10(x.sum() / (x * gain).sum())
    return float(measured), float(closed)


def impulse_error(mode: str, rate: int, seed: int) -> float:
    """Largest |measured - closed-form| response of a random 5-tap x2 resize-convolution,
    relative to the largest closed-form value (both float64)."""
    torch.manual_seed(seed)
    kind = "nearest" if mode == "nearest" else "bilinear"
    r = upsampler_response(ResizeConv1d(2, 3, 5, scale_factor=2, mode=kind), rate, size=64)
    if r.closed_form is None:  # every ResizeConv1d has one; a failed check, not a crash
        return float("inf")
    return float((r.measured - r.closed_form).abs().max() / r.closed_form.abs().max())


def measure_seed(cfg: C.AudioConfig, sounds: SoundSource, seed: int, keep: bool) -> dict:
    """Everything but training, for one seed: the tone scores of random-init super-resolvers
    per activation and upsampler, the interpolations' band attenuations and impulse errors,
    and the replica levels; with ``keep``, one clip of each for the figures and players."""
    rate = cfg.sample_rate
    low, high = clip_pairs(sounds, cfg.clips, rate, cfg.seconds, seed)
    shown = min(4, cfg.clips - 1)  # the embedded sounds' stereo mix
    out: dict[str, Any] = {"init": {}, "loudest": {}, "filtering": {}, "replicas": {}}
    outputs = {}
    for activation in cfg.activations:
        out["init"][activation], out["loudest"][activation] = {}, {}
        for variant in cfg.variants:
            torch.manual_seed(seed)
            net = SuperResolver(variant, cfg.channels, cfg.kernel_size, activation).eval()
            with torch.no_grad():
                y = net(low)
            score, loudest = tone_summary(y, rate)
            out["init"][activation][variant] = score
            out["loudest"][activation][variant] = loudest
            outputs[variant] = y[shown]  # shown: the last activation's (the network's own)
    upsampled = {"zeros": zero_insertion(low, 2)}
    for mode in ("nearest", "linear"):
        upsampled[mode] = F.interpolate(low, scale_factor=2, mode=mode)
        measured, closed = band_attenuation(low, upsampled[mode], mode, rate)
        error = impulse_error(mode, rate, seed)
        out["filtering"][mode] = {"measured": measured, "closed_form": closed, "impulse": error}
    for name, y in upsampled.items():
        energy = replica_energy(y, 2)
        out["replicas"][name] = float(10 * torch.log10(energy.image.sum() / energy.base.sum()))
    if keep:
        out["shown"] = {"input": low[shown], "target": high[shown], "init": outputs}
        out["spectra"] = {
            n: average_spectrum(y[shown], rate).decibels[0] for n, y in upsampled.items()
        }
    return out
