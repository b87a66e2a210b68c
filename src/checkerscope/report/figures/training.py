"""Figures of training experiments: one function per figure, numbers in, matplotlib Figure out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from checkerscope.report.figures.palette import COLORS


def gan_training_curves(
    steps: Sequence[int],
    score: Mapping[str, Sequence[Sequence[float]]],
    kid: Mapping[str, Sequence[Sequence[float]]],
    real_score: float | None = None,
) -> Figure:
    """Checkerboard score (dB) and KID over training, one colour per variant.

    ``score[variant]`` and ``kid[variant]`` hold one curve per seed, each with one value per
    entry of ``steps``; thin lines are seeds, the thick line their mean.

    Example:
        >>> fig = gan_training_curves([10, 20], {"deconv": [[3.0, 4.0]]}, {"deconv": [[0.5, 0.2]]})
    """
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    ax_score, ax_kid = fig.subplots(1, 2)
    for ax, series, label in ((ax_score, score, "checkerboard score (dB)"), (ax_kid, kid, "KID")):
        for i, (variant, curves) in enumerate(series.items()):
            color = COLORS.get(variant, f"C{i + 2}")
            values = np.asarray(curves, dtype=float)
            for curve in values:
                ax.plot(steps, curve, color=color, alpha=0.3, linewidth=0.8)
            ax.plot(steps, values.mean(axis=0), color=color, linewidth=2, label=variant)
        ax.set_xlabel("training step")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    if real_score is not None:
        ax_score.axhline(real_score, color="k", linestyle="--", linewidth=1, label="real data")
    ax_score.legend()
    ax_score.set_title("checkerboard in samples (higher is worse)")
    ax_kid.set_title("distance to held-out data (lower is better)")
    return fig


def sample_grids(images: Mapping[str, torch.Tensor], columns: int = 6) -> Figure:
    """One grid of images per entry, side by side: each (N, 3, H, W) in [-1, 1].

    Example:
        >>> fig = sample_grids({"deconv": torch.zeros(4, 3, 8, 8)})
    """
    fig = Figure(figsize=(4 * len(images), 4.3), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(images)))
    for ax, (title, batch) in zip(axes, images.items(), strict=True):
        ax.imshow(_grid(batch, columns), interpolation="nearest")
        ax.set_title(title)
        ax.axis("off")
    return fig


def _grid(batch: torch.Tensor, columns: int) -> np.ndarray:
    """Tile (N, C, H, W) in [-1, 1] into one (rows*(H+1), columns*(W+1), C) array in [0, 1]."""
    x = ((batch.detach().float().cpu().clamp(-1, 1) + 1) / 2).numpy()
    n, c, h, w = x.shape
    columns = min(columns, n)
    rows = -(-n // columns)
    grid = np.ones((rows * (h + 1) - 1, columns * (w + 1) - 1, c), dtype=np.float32)
    for i in range(n):
        r, q = divmod(i, columns)
        grid[r * (h + 1) : r * (h + 1) + h, q * (w + 1) : q * (w + 1) + w] = x[i].transpose(1, 2, 0)
    return grid if c == 3 else grid[..., 0]
