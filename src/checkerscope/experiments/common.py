"""Helpers several experiments share: high-frequency energy, random generators, a resumable
training loop.

Kept here once so that every experiment tests, measures and samples the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from checkerscope.experiments import config as C
from checkerscope.experiments.checkpoint import resume_training, save_training

if TYPE_CHECKING:
    from checkerscope.experiments.runner import Bar


def hf_fraction(x: torch.Tensor, cutoff: float = 0.25) -> torch.Tensor:
    """Fraction of each image's non-DC power above ``cutoff`` cycles per pixel: (B,).

    From :func:`checkerscope.analysis.spectra.spectrum` (power of the periodic component,
    averaged over channels); the radius is ``hypot(fy, fx)``, so 0.25 is half the Nyquist
    frequency along each axis. DC (the mean colour) is left out of the total.

    Example:
        >>> stripes = torch.zeros(1, 1, 16, 16)
        >>> stripes[..., ::2, :] = 1.0  # period 2 along y: power at fy = 1/2 ...
        >>> ramp = torch.linspace(0, 1, 16).expand(1, 1, 16, 16)
        >>> # ... less the quarter that the periodic-plus-smooth split moves to low frequencies
        >>> round(float(hf_fraction(stripes)), 2), round(float(hf_fraction(ramp)), 2)
        (0.75, 0.1)
    """
    from checkerscope.analysis.spectra import spectrum

    s = spectrum(x)
    power = 10 ** (s.log_power.double() / 10)
    h, w = power.shape[-2:]
    fy = torch.fft.fftshift(torch.fft.fftfreq(h, dtype=torch.float64))
    fx = torch.fft.fftshift(torch.fft.fftfreq(w, dtype=torch.float64))
    radius = torch.hypot(fy[:, None], fx[None, :])
    return power[:, radius > cutoff].sum(1) / power[:, radius > 0].sum(1)


@torch.no_grad()
def random_init_outputs(
    build: Callable[[], nn.Module], seed: int, z: torch.Tensor
) -> tuple[nn.Module, dict[str, torch.Tensor]]:
    """A freshly initialized generator (``build()`` after seeding torch with ``seed``) and its
    outputs for ``z`` with BatchNorm in both modes: ``{"eval": ..., "train": ...}``.

    ``"train"`` normalizes with the statistics of the batch, as a GAN generator runs while it
    trains (and as ``gan_training`` samples). ``"eval"`` uses the initial running statistics
    (mean 0, variance 1), which makes every BatchNorm the identity; it runs first, before the
    train-mode pass moves the running statistics. The model is returned in train mode.
    """
    torch.manual_seed(seed)
    model = build()
    outputs = {"eval": model.eval()(z).float()}
    outputs["train"] = model.train()(z).float()
    return model, outputs


def phase_means(x: torch.Tensor, period: int, margin: int = 0) -> torch.Tensor:
    """Mean of each image over the pixels of each phase: (B, C, H, W) -> (B, C, period, period).

    Phase (a, b) holds the pixels (i, j) with ``i % period == a`` and ``j % period == b``,
    counted after dropping ``margin`` pixels at every border (padding effects) and the rows and
    columns beyond a whole number of periods. This is the article's notion of a checkerboard:
    some phases get more paint than others. A nearest x``period`` upsampling gives every phase
    the same mean exactly.

    Example:
        >>> x = torch.zeros(1, 1, 8, 8)
        >>> x[..., ::2, ::2] = 4.0
        >>> phase_means(x, 2)[0, 0]
        tensor([[4., 0.],
                [0., 0.]])
    """
    if margin:
        x = x[..., margin:-margin, margin:-margin]
    b, c, h, w = x.shape
    h, w = h // period * period, w // period * period
    if h == 0 or w == 0:
        raise ValueError(f"x of shape {tuple(x.shape)} holds no whole period {period}")
    blocks = x[..., :h, :w].reshape(b, c, h // period, period, w // period, period)
    return blocks.mean(dim=(2, 4))


def phase_contrast(x: torch.Tensor, period: int = 2, margin: int = 0) -> torch.Tensor:
    """How unequal the phase means are, against what unpatterned content gives: (B,).

    ``sqrt(mean over channels and phases of (phase mean - its average)**2)`` divided by the
    standard error of a phase mean (the image's standard deviation over the square root of
    the pixels per phase), so white noise scores about ``sqrt(1 - 1/period**2)`` and a
    periodic pattern grows with the image area. Exactly 0 for a nearest-upsampled image.

    Example:
        >>> x = torch.randn(2, 3, 32, 32)
        >>> bool((phase_contrast(x) < 3).all())
        True
    """
    m = phase_means(x, period, margin)
    dev = (m - m.mean(dim=(2, 3), keepdim=True)).pow(2).mean(dim=(1, 2, 3)).sqrt()
    inner = x[..., margin : x.shape[-2] - margin, margin : x.shape[-1] - margin]
    per_phase = (inner.shape[-2] // period) * (inner.shape[-1] // period)
    std = inner.flatten(1).std(dim=1).clamp_min(torch.finfo(x.dtype).tiny)
    return dev / (std / per_phase**0.5)


def train_on_batches(
    net: nn.Module,
    batch_loss: Callable[[torch.Tensor], torch.Tensor],
    n: int,
    cfg: Any,
    *,
    seed: int,
    checkpoint: Path,
    bar: Bar | None = None,
    name: str = "net",
) -> list[float]:
    """Train ``net`` with Adam(lr=``cfg.lr``) for ``cfg.steps`` steps; return the loss per step.

    Each step draws ``cfg.batch_size`` indices into ``n`` examples from a generator seeded with
    ``seed`` and minimises ``batch_loss(index)``. Every ``cfg.checkpoint_every`` steps (and at
    the end) ``net`` (under the key ``name``), the optimiser, the generator, the global random
    states and the losses are saved to ``checkpoint``; a run finding it continues from it.
    ``cfg`` is a frozen config dataclass with those fields.

    Example:
        >>> import tempfile, pathlib
        >>> cfg = C.for_scale(C.FEATURE_VIS, "quick", {"steps": 2, "batch_size": 3})
        >>> net, x = nn.Linear(2, 1), torch.rand(5, 2)
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.pt"
        >>> len(train_on_batches(net, lambda i: net(x[i]).square().mean(), 5, cfg, seed=0,
        ...                      checkpoint=p))
        2
    """
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    stream = torch.Generator().manual_seed(seed)
    modules, streams = {name: net, "opt": opt}, {"stream": stream}
    losses: list[float] = []
    step = 0
    if (state := resume_training(checkpoint, C.as_dict(cfg), modules, streams)) is not None:
        losses, step = state["losses"], state["step"]
    if bar is not None:
        bar.advance(step)
    net.train()
    while step < cfg.steps:
        loss = batch_loss(torch.randint(n, (cfg.batch_size,), generator=stream))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        losses.append(float(loss.detach()))
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            save_training(checkpoint, C.as_dict(cfg), modules, streams, step=step, losses=losses)
        if bar is not None:
            bar.advance(1)
    return losses
