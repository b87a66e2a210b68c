"""Figures of the gradient experiments (``gradients``, ``feature_vis``): numbers in, Figure out.

Drawn on ``matplotlib.figure.Figure`` (Agg when saved), never through pyplot's global state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from checkerscope.report.figures.palette import COLORS


def _rgb(x: torch.Tensor) -> np.ndarray:
    """(3, H, W) -> (H, W, 3) in [0, 1], each image stretched to its own range."""
    x = x.detach().float().cpu()
    x = (x - x.min()) / (x.max() - x.min()).clamp_min(1e-12)
    return x.permute(1, 2, 0).numpy()


def gradient_maps(
    images: torch.Tensor, maps: Mapping[str, torch.Tensor], scores: Mapping[str, float]
) -> Figure:
    """Crops (N, 3, H, W) in [0, 1] and, per variant, gradient magnitude maps (N, 1, H, W).

    One row per crop, one column per variant; ``scores[variant]`` (dB) goes in the title.
    Each map is stretched to its own maximum, so the columns compare patterns, not gains.

    Example:
        >>> fig = gradient_maps(torch.rand(2, 3, 8, 8), {"a": torch.rand(2, 1, 8, 8)}, {"a": 1.0})
    """
    n = images.shape[0]
    fig = Figure(figsize=(2.2 * (len(maps) + 1), 2.2 * n + 0.4), layout="constrained")
    axes = np.asarray(fig.subplots(n, len(maps) + 1, squeeze=False))
    for i in range(n):
        axes[i, 0].imshow(images[i].permute(1, 2, 0).clamp(0, 1).numpy())
        for j, (name, m) in enumerate(maps.items(), start=1):
            values = m[i, 0].detach().float().cpu().numpy()
            axes[i, j].imshow(values / max(values.max(), 1e-30), cmap="magma", vmin=0, vmax=1)
            if i == 0:
                axes[i, j].set_title(f"{name}\n{scores[name]:.1f} dB", fontsize=9)
    axes[0, 0].set_title("crop", fontsize=9)
    for ax in axes.flat:
        ax.axis("off")
    return fig


def paired_per_seed(
    panels: Mapping[str, Mapping[str, Sequence[float]]],
    ylabel: str,
    threshold: float | None = None,
) -> Figure:
    """Per-seed numbers of several conditions, one line per seed: ``panels[name][condition]``
    holds one value per seed (the same seeds in every condition).

    One panel per name, conditions left to right, a grey line joining each seed's values and a
    bar at each condition's mean, so a paired effect reads as the slope of the lines; a dotted
    line marks ``threshold`` (the score's flag threshold, say) when given.

    Example:
        >>> fig = paired_per_seed({"net": {"strided": [9.0, 8.0], "antialiased": [3.0, 4.0]}}, "dB")
    """
    fig = Figure(figsize=(2.0 + 1.4 * sum(len(c) for c in panels.values()), 3.6),
                 layout="constrained")  # fmt: skip
    axes = np.asarray(fig.subplots(1, len(panels), squeeze=False, sharey=True))[0]
    for ax, (name, conditions) in zip(axes, panels.items(), strict=True):
        names = list(conditions)
        values = np.asarray([conditions[c] for c in names], dtype=float)  # (conditions, seeds)
        ax.plot(range(len(names)), values, color="0.6", marker="o", markersize=3, linewidth=1)
        for i, c in enumerate(names):
            ax.hlines(values[i].mean(), i - 0.2, i + 0.2, color=COLORS.get(c, "k"), linewidth=2.5)
        ax.set_xticks(range(len(names)), names, fontsize=9)
        ax.set_xlim(-0.5, len(names) - 0.5)
        if threshold is not None:
            ax.axhline(threshold, color="0.4", linestyle=":", linewidth=1)
            ax.annotate("flag threshold", (len(names) - 0.5, threshold), fontsize=8,
                        ha="right", va="bottom", color="0.3")  # fmt: skip
        ax.set_title(f"{name} ({values.shape[1]} seeds)", fontsize=10)
        ax.grid(alpha=0.3, axis="y")
    axes[0].set_ylabel(ylabel)
    return fig


def visualizations(
    images: Mapping[str, torch.Tensor], scores: Mapping[str, Sequence[float]]
) -> Figure:
    """Feature visualizations: one row per method, images (N, 3, H, W), scores (dB) under each.

    Each image is stretched to its own range, as feature visualizations are shown.

    Example:
        >>> fig = visualizations({"plain": torch.rand(2, 3, 8, 8)}, {"plain": [3.0, 4.0]})
    """
    n = max(x.shape[0] for x in images.values())
    fig = Figure(figsize=(1.8 * n + 1.2, 2.0 * len(images)), layout="constrained")
    axes = np.asarray(fig.subplots(len(images), n, squeeze=False))
    for r, (name, batch) in enumerate(images.items()):
        for c in range(n):
            ax = axes[r, c]
            ax.axis("off")
            if c < batch.shape[0]:
                ax.imshow(_rgb(batch[c]), interpolation="nearest")
                ax.set_title(f"{scores[name][c]:.1f} dB", fontsize=8)
        axes[r, 0].text(
            -0.08, 0.5, name, transform=axes[r, 0].transAxes, rotation=90, va="center",
            ha="right", fontsize=9,
        )  # fmt: skip
    return fig
