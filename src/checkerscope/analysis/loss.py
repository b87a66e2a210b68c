"""A differentiable checkerboard penalty: the score's lattice energy over its background.

The checkerboard score (:mod:`checkerscope.analysis.score`, :mod:`~checkerscope.analysis.lattice`)
compares, for each period ``p`` and each place (the 2-D lattice, rows, columns), the power on the
frequencies where a period-``p`` pattern lives with the background expected there from the
spectrum around them. :func:`checkerboard_loss` turns the same energies into a loss: the natural
log of each ratio where it is above 1 (no more than the background costs nothing), summed over
periods and places, times :data:`SCALE`. Ordinary high frequencies (edges, texture, noise) raise
the background with the peaks and cost next to nothing; an image enlarged by pixel repetition
has zeros on its lattice and costs nothing.

How it was scaled (``benchmarks/loss_scale.py``, seeds 100 and 101, not the study's; its table
is in the README). Typical values: a small reconstruction generator's MSE on images in [-1, 1]
about 0.014 (L1 0.07), a DCGAN's non-saturating generator loss 1 to 4; this loss at weight 1:
about 0.0005 on photographs and on white noise, 0.0001 on pixel-repeated images, 0.004 to
0.015 on the outputs of trained deconvolution generators, of a DCGAN and of random-weight
DCGAN generators. Its gradient grows as a peak falls (the derivative of a log), so a value that
is a fraction of the main loss already pulls the peaks down to their backgrounds: with weight 1
the reconstruction generator's score fell 6 to 10 dB on MSE (4 to 5 dB on L1) at 1.05 to 1.2
times the MSE, and a DCGAN's fell 1.1 and 8.6 dB in two runs (weight 100: 15 dB, the KID no
worse). :data:`SCALE` was set so that weight 1 serves reconstruction losses on [-1, 1]
images, the issue's target, and stays harmless for a GAN.

Tuning: raise the weight until the score of your outputs comes down to your data's (3 with L1;
10 to 100 for a surer effect on a GAN), lower it when quality suffers. The loss is a sum of log
ratios, unchanged when the outputs are scaled, while an MSE grows with the square of their
range: with images in [0, 1] the same balance with MSE takes a quarter of the weight.

Both the peaks and the backgrounds are differentiated. A background held fixed (detached) lets
the loss fall by shrinking the whole output, peaks with it; on a reconstruction generator that
collapsed the outputs to their mean within a few hundred steps. Through both, the loss depends
on ratios only, and its gradient is orthogonal to scaling the output.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from checkerscope import checks as v
from checkerscope.analysis.score import COLORS, PERIODS, TILE, artifact_energy
from checkerscope.analysis.score1d import TILE as TILE_1D
from checkerscope.analysis.score1d import artifact_energy_1d

REDUCTIONS = ("mean", "sum", "none")

SCALE = 1e-3
"""What each neper of lattice energy above its background costs (see :func:`checkerboard_loss`)."""


def _periods_1d(periods: Sequence[int] | None, length: int) -> Sequence[int]:
    if periods is not None:
        return periods
    n = min(length, TILE_1D)
    fitting = tuple(p for p in PERIODS if 2 * p <= n)
    if not fitting:
        raise ValueError(f"x must be at least 4 samples long to hold a period-2 pattern, got {n}")
    return fitting


def lattice_energies(
    x: torch.Tensor, periods: Sequence[int] | None = None, color: str = "luma"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Peak and background energies (B, K) of signals, images or volumes, with gradients.

    ``x``: signals (B, C, L) scored as :func:`~checkerscope.analysis.score1d.artifact_energy_1d`
    does (K = one per period), images (B, C, H, W) as
    :func:`~checkerscope.analysis.score.artifact_energy` does (K = 3 per period: lattice, rows,
    columns; ``color`` as there), or volumes (B, C, D, H, W) as a stack of D images whose
    energies are summed. ``periods=None``: those of (2, 4, 8) that fit. The score of item ``b``
    is ``10 * log10(max_k art[b, k] / bg[b, k])`` floored at 0 dB.

    Example:
        >>> art, bg = lattice_energies(torch.rand(2, 3, 32, 32), periods=(2, 4))
        >>> art.shape, bg.shape
        (torch.Size([2, 6]), torch.Size([2, 6]))
    """
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() == 3:
        return artifact_energy_1d(x, _periods_1d(periods, x.shape[-1]), TILE_1D)
    if x.dim() == 4:
        art, bg = artifact_energy(x, periods, TILE, color, "torch")  # type: ignore[arg-type]
        return art.flatten(1), bg.flatten(1)
    if x.dim() == 5:
        b, d = x.shape[0], x.shape[2]
        slices = x.transpose(1, 2).flatten(0, 1)
        art, bg = artifact_energy(slices, periods, TILE, color, "torch")  # type: ignore[arg-type]
        return art.view(b, d, -1).sum(dim=1), bg.view(b, d, -1).sum(dim=1)
    raise ValueError(
        f"x must be signals (B, C, L), images (B, C, H, W) or volumes (B, C, D, H, W), got a "
        f"tensor of shape {tuple(x.shape)}"
    )


def checkerboard_loss(
    x: torch.Tensor,
    periods: Sequence[int] | None = None,
    reduction: str = "mean",
    *,
    color: str = "luma",
) -> torch.Tensor:
    """A differentiable penalty on the checkerboards of a batch of signals, images or volumes.

    For each item, with the energies of :func:`lattice_energies` (one per period and, for
    images, per place: lattice, rows, columns)::

        loss = SCALE * sum_k ln(max(art_k / bg_k, 1))

    the excess of each peak over its background in nepers (1 Np = 8.69 dB), so that an item
    scoring ``S`` dB in one place costs ``SCALE * S / 8.69``: :data:`SCALE` and how to tune the
    weight are explained in the module's docstring. ``periods=None`` takes those of (2, 4, 8)
    that fit; ``color`` as in :func:`checkerscope.analysis.checkerboard_score` (images only).
    ``reduction``: ``"mean"`` or ``"sum"`` over the batch, or ``"none"`` (B,). Unchanged by
    ``a * x + b`` (scalar ``a != 0``); an item with a NaN or infinite value gives NaN, as the
    score does. Differentiable everywhere but where a ratio is exactly 1 or medians tie.

    Example:
        >>> x = torch.rand(2, 3, 32, 32, requires_grad=True)
        >>> checkerboard_loss(x).backward()
        >>> x.grad.shape
        torch.Size([2, 3, 32, 32])
    """
    v.one_of("reduction", reduction, REDUCTIONS)
    art, bg = lattice_energies(x, periods, color)
    per_item = SCALE * torch.log(torch.clamp(art / bg, min=1.0)).sum(dim=1)
    if reduction == "none":
        return per_item
    return per_item.mean() if reduction == "mean" else per_item.sum()


class CheckerboardLoss(nn.Module):
    """:func:`checkerboard_loss` as a module: ``CheckerboardLoss(periods, reduction)(x)``.

    Example:
        >>> CheckerboardLoss(reduction="none")(torch.rand(4, 1, 64)).shape
        torch.Size([4])
    """

    def __init__(
        self,
        periods: Sequence[int] | None = None,
        reduction: str = "mean",
        *,
        color: str = "luma",
    ) -> None:
        super().__init__()
        self.periods = None if periods is None else tuple(periods)
        self.reduction = v.one_of("reduction", reduction, REDUCTIONS)
        self.color = v.one_of("color", color, COLORS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return checkerboard_loss(x, self.periods, self.reduction, color=self.color)

    def extra_repr(self) -> str:
        return f"periods={self.periods}, reduction={self.reduction!r}, color={self.color!r}"
