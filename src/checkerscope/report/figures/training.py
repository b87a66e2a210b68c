"""Figures of training experiments: one function per figure, numbers in, matplotlib Figure out.

Drawn on ``matplotlib.figure.Figure`` (Agg when saved), never through pyplot's global state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from checkerscope.report.figures.palette import COLORS

Curves = Mapping[str, Sequence[Sequence[float]]]
"""Variant -> one curve per seed (one value per step)."""


def period_curves(
    steps: Sequence[int],
    panels: Mapping[str, Mapping[str, Curves]],
    data: Mapping[str, float] | None = None,
) -> Figure:
    """Checkerboard score (dB) per period over training: one row per setting, one column per
    period, one colour per variant; thin lines are seeds, the thick line their mean, and the
    band the mean's standard error over seeds.

    ``panels[row][period][variant]`` holds one curve per seed, one value per step; ``data``
    maps a period to the data's score there (dashed).

    Example:
        >>> curves = {"init=dcgan": {"2": {"deconv": [[9.0, 6.0], [8.0, 7.0]]}}}
        >>> fig = period_curves([0, 10], curves, data={"2": 1.0})
    """
    rows = list(panels)
    columns = list(panels[rows[0]])
    fig = Figure(figsize=(3.6 * len(columns), 2.9 * len(rows) + 0.4), layout="constrained")
    axes = np.asarray(fig.subplots(len(rows), len(columns), sharex=True, squeeze=False))
    x = np.asarray(steps)
    for r, row in enumerate(rows):
        for c, period in enumerate(columns):
            ax = axes[r, c]
            for i, (variant, curves) in enumerate(panels[row][period].items()):
                color = COLORS.get(variant, f"C{i + 2}")
                values = np.asarray(curves, dtype=float)
                for curve in values:
                    ax.plot(x, curve, color=color, alpha=0.35, linewidth=0.8)
                mean = values.mean(axis=0)
                if len(values) > 1:
                    se = values.std(axis=0, ddof=1) / np.sqrt(len(values))
                    ax.fill_between(x, mean - se, mean + se, color=color, alpha=0.15)
                ax.plot(x, mean, color=color, linewidth=2, label=variant)
            if data is not None and period in data:
                ax.axhline(data[period], color="k", linestyle="--", linewidth=1, label="data")
            ax.set_title(f"{row}: period {period}" if len(rows) > 1 else f"period {period}")
            ax.grid(alpha=0.3)
            if c == 0:
                ax.set_ylabel("checkerboard score (dB)")
            if r == len(rows) - 1:
                ax.set_xlabel("training step")
    axes[0, 0].legend(fontsize=8)
    return fig


def before_after(
    groups: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    ylabel: str,
    reference: Sequence[float] | None = None,
    reference_label: str = "data",
    log: bool = False,
) -> Figure:
    """A number per seed before and after training, for each group: a hollow dot at
    initialization joined to a filled dot after training, one pair per seed; ``reference``
    (one value per seed, e.g. the data's own) as a dashed line at its mean.

    ``groups[label] = (before, after)``, one value per seed each; ``log`` uses a symmetric
    log axis (KIDs near 0 may be negative).

    Example:
        >>> fig = before_after({"deconv": ([1.0, 2.0], [0.1, 0.2])}, "KID", [0.0, 0.01])
    """
    fig = Figure(figsize=(1.6 * len(groups) + 2.5, 4), layout="constrained")
    ax = fig.subplots()
    for i, (label, (before, after)) in enumerate(groups.items()):
        color = COLORS.get(label.split(",")[0], f"C{i}")
        offsets = np.linspace(-0.08, 0.08, len(after)) if len(after) > 1 else np.zeros(1)
        for dx, b, a in zip(offsets, before, after, strict=True):
            x = (i - 0.2 + dx, i + 0.2 + dx)
            ax.plot(x, [b, a], color=color, alpha=0.5, linewidth=0.8)
            ax.scatter(x[:1], [b], facecolors="none", edgecolors=color, s=22)
            ax.scatter(x[1:], [a], color=color, s=22)
    if reference is not None:
        level = float(np.mean(reference))
        ax.axhline(level, color="k", linestyle="--", linewidth=1, label=reference_label)
        ax.legend(fontsize=8)
    if log:
        ax.set_yscale("symlog", linthresh=1e-3)
    ax.set_xticks(range(len(groups)), list(groups), rotation=15, fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title("hollow: at initialization; filled: after training (one pair per seed)")
    ax.grid(alpha=0.3, axis="y")
    return fig


def sample_grids(
    images: Mapping[str, torch.Tensor], columns: int = 6, per_row: int | None = None
) -> Figure:
    """One grid of images per entry, side by side (``per_row`` grids a row; all in one row
    when None): each (N, 3, H, W) in [-1, 1], ``columns`` images across.

    Example:
        >>> fig = sample_grids({"deconv": torch.zeros(4, 3, 8, 8)})
    """
    grids = {title: _grid(batch, columns) for title, batch in images.items()}
    across = min(per_row or len(grids), len(grids))
    down = -(-len(grids) // across)
    aspect = max(g.shape[0] / g.shape[1] for g in grids.values())
    fig = Figure(figsize=(4 * across, (4 * aspect + 0.3) * down), layout="constrained")
    axes = np.atleast_1d(fig.subplots(down, across)).ravel()
    for ax, (title, grid) in zip(axes, grids.items(), strict=False):
        ax.imshow(grid, interpolation="nearest")
        ax.set_title(title, fontsize=10)
    for ax in axes:
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
