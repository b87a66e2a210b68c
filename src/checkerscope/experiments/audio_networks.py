"""The ``audio`` experiment's network: a small waveform super-resolver (x2) whose two upsamplers
are chosen by name, the clips it learns from, its training loop, and its scores on held-out
clips (tone score, SDR, log-spectral distance).

The network reads a signal at the low rate and writes it at twice that rate, as audio
super-resolution does (Kuleshov, Enam & Ermon 2017), through an encoder-decoder like Demucs's
and Wave-U-Net's: a convolution, a strided convolution down to half the low rate, then two x2
upsamplers back up, each followed by an activation, and a last convolution. Stacked x2
upsamplers repeat their pattern every 4 output samples, so their tones sit at ``fs / 4`` and
``fs / 2`` of the output rate (Pons et al. 2021). Upsamplers, as Pons et al. name them:

- ``"transposed"``: ``ConvTranspose1d``, kernel 4, stride 2 (MelGAN's kernel of twice the stride);
- ``"subpixel"``: a 3-tap convolution to twice the channels, then a 1-D pixel shuffle;
- ``"nearest"`` and ``"linear"``: :class:`checkerscope.nn.ResizeConv1d` (interpolation, then a
  3-tap convolution).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from checkerscope.analysis.signal_quality import log_spectral_distance, signal_to_distortion
from checkerscope.analysis.tones import tone_score
from checkerscope.experiments import config as C
from checkerscope.nn import ResizeConv1d
from checkerscope.sounds import SoundSource, resample

UPSAMPLERS = ("transposed", "subpixel", "nearest", "linear")
"""The upsamplers compared, in the order of Pons et al.'s table."""
ACTIVATIONS = {"LeakyReLU": lambda: nn.LeakyReLU(0.2), "none": nn.Identity}
"""What follows each layer: the network's LeakyReLU, or nothing (the upsamplers' own artifacts,
without the nonlinearity that turns a period-2 variance into a tone)."""


class SubPixel1d(nn.Module):
    """Sub-pixel convolution in 1-D: a 3-tap ``Conv1d`` to ``scale * out`` channels, then the
    1-D pixel shuffle ``(N, s C, L) -> (N, C, s L)`` (output sample ``s l + r`` of channel
    ``c`` is conv channel ``s c + r`` at ``l``). Each phase ``r`` has its own kernel and bias.

    Example:
        >>> SubPixel1d(4, 2)(torch.randn(1, 4, 10)).shape
        torch.Size([1, 2, 20])
    """

    def __init__(self, in_channels: int, out_channels: int, scale: int = 2) -> None:
        super().__init__()
        self.scale = scale
        self.conv = nn.Conv1d(in_channels, out_channels * scale, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        n, cs, length = y.shape
        c = cs // self.scale
        return y.view(n, c, self.scale, length).transpose(2, 3).reshape(n, c, length * self.scale)


def upsampler_1d(kind: str, channels: int) -> nn.Module:
    """A x2 upsampler of ``channels`` channels named as in :data:`UPSAMPLERS`.

    Example:
        >>> [upsampler_1d(k, 4)(torch.randn(1, 4, 8)).shape[-1] for k in UPSAMPLERS]
        [16, 16, 16, 16]
    """
    if kind == "transposed":
        return nn.ConvTranspose1d(channels, channels, 4, stride=2, padding=1)
    if kind == "subpixel":
        return SubPixel1d(channels, channels)
    if kind in ("nearest", "linear"):
        mode = "nearest" if kind == "nearest" else "bilinear"  # ResizeConv1d's linear
        return ResizeConv1d(channels, channels, 3, scale_factor=2, mode=mode)
    raise ValueError(f"kind must be one of {', '.join(map(repr, UPSAMPLERS))}, got {kind!r}")


class SuperResolver(nn.Module):
    """(N, 1, L) at the low rate -> (N, 1, 2 L) at twice it; see the module's description.

    Example:
        >>> SuperResolver("nearest", channels=4)(torch.randn(2, 1, 100)).shape
        torch.Size([2, 1, 200])
    """

    def __init__(
        self, upsampler: str, channels: int, kernel_size: int = 9, activation: str = "LeakyReLU"
    ) -> None:
        super().__init__()
        act: Callable[[], nn.Module] = ACTIVATIONS[activation]
        pad = kernel_size // 2
        self.body = nn.Sequential(
            nn.Conv1d(1, channels, kernel_size, padding=pad),
            act(),
            nn.Conv1d(channels, channels, 4, stride=2, padding=1),
            act(),
            upsampler_1d(upsampler, channels),
            act(),
            upsampler_1d(upsampler, channels),
            act(),
            nn.Conv1d(channels, 1, kernel_size, padding=pad),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def train(
    net: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    steps: int,
    batch_size: int,
    crop: int,
    lr: float,
    seed: int,
) -> list[float]:
    """Fit ``net`` to map ``inputs`` (N, 1, L) to ``targets`` (N, 1, 2 L) by mean squared
    error with Adam: each step a batch of random ``crop``-sample windows of the inputs (and the
    aligned ``2 crop`` of the targets), drawn from ``seed``. Returns the loss of every step.

    Example:
        >>> net = SuperResolver("nearest", channels=2)
        >>> x = torch.randn(3, 1, 64)
        >>> len(train(net, x, x.repeat_interleave(2, -1), steps=2, batch_size=2, crop=16,
        ...           lr=1e-3, seed=0))
        2
    """
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    net.train()
    losses = []
    n, length = inputs.shape[0], inputs.shape[-1]
    for _ in range(steps):
        item = torch.randint(n, (batch_size,), generator=gen)
        start = torch.randint(length - crop + 1, (batch_size,), generator=gen)
        x = torch.stack([inputs[i, :, s : s + crop] for i, s in zip(item, start, strict=True)])
        y = torch.stack(
            [targets[i, :, 2 * s : 2 * (s + crop)] for i, s in zip(item, start, strict=True)]
        )
        loss = (net(x) - y).square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    net.eval()
    return losses


def clip_pairs(
    sounds: SoundSource, n: int, rate: int, seconds: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` clips (n, 1, L/2) at ``rate // 2`` (inputs) and the same (n, 1, L) at ``rate``
    (targets): :meth:`SoundSource.clips` at ``rate``, band-limited to half of it by
    :func:`checkerscope.sounds.resample`.

    Example:
        >>> low, high = clip_pairs(SoundSource(), 2, 8000, 0.5, seed=0)
        >>> low.shape, high.shape
        (torch.Size([2, 1, 2000]), torch.Size([2, 1, 4000]))
    """
    high = sounds.clips(n, rate, seconds, seed)
    low = torch.from_numpy(resample(high.double().numpy(), rate, rate // 2)).float()
    return low, high


def tone_summary(y: torch.Tensor, rate: int) -> tuple[float, float]:
    """The mean over clips (N, 1, L) of their tone score (dB) at ``rate``, and the tone (Hz)
    whose own score, averaged over the clips, is highest.

    Example:
        >>> n = torch.arange(8000)
        >>> y = torch.sin(n * 0.3) + 0.01 * torch.cos(n * torch.pi / 2)  # a buzz at fs / 4
        >>> score, hz = tone_summary(y[None, None], 16000)
        >>> score > 12, hz
        (True, 4000.0)
    """
    r = tone_score(y.detach(), rate)
    loudest = int(r.frequency_scores.nanmean(dim=0).argmax())
    return float(r.score.mean()), float(r.frequencies[loudest])


def train_and_score(
    cfg: C.AudioConfig, sounds: SoundSource, seed: int, variant: str, keep: bool
) -> dict:
    """Train one super-resolver of ``variant`` on clips drawn from ``seed + 1`` and score it on
    held-out clips drawn from ``seed + 2``: mean tone score and loudest tone
    (:func:`tone_summary`), SDR and LSD (dB), the last steps' loss, and the SDR of plain linear
    interpolation of the same clips for reference; with ``keep``, one output and its target
    for the report."""
    rate = cfg.sample_rate
    low, high = clip_pairs(sounds, cfg.n_train, rate, cfg.train_seconds, seed + 1)
    test_low, test_high = clip_pairs(sounds, cfg.n_eval, rate, cfg.eval_seconds, seed + 2)
    torch.manual_seed(seed)
    net = SuperResolver(variant, cfg.channels, cfg.kernel_size)
    losses = train(net, low, high, cfg.steps, cfg.batch_size, cfg.crop, cfg.lr, seed)
    with torch.no_grad():
        y = net(test_low)
    interpolated = F.interpolate(test_low, scale_factor=2, mode="linear")
    shown = min(4, cfg.n_eval - 1)  # the embedded sounds' stereo mix
    tone, loudest = tone_summary(y, rate)
    return {
        "tone": tone,
        "loudest_tone_hz": loudest,
        "sdr": float(signal_to_distortion(y, test_high).mean()),
        "lsd": float(log_spectral_distance(y, test_high, rate).mean()),
        "final_loss": sum(losses[-10:]) / len(losses[-10:]),
        "interpolation_sdr": float(signal_to_distortion(interpolated, test_high).mean()),
        "output": y[shown] if keep else None,
        "target": test_high[shown] if keep else None,
    }
