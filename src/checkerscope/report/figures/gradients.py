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


def phase_ratios(ratios: Mapping[str, Sequence[float]]) -> Figure:
    """Phase ratio (max/min gradient energy over the pixel phases), one dot per network.

    Example:
        >>> fig = phase_ratios({"strided_k3": [3.9, 4.2], "avgpool": [1.0, 1.05]})
    """
    fig = Figure(figsize=(6, 3.6), layout="constrained")
    ax = fig.subplots()
    rng = np.random.default_rng(0)
    for i, (name, values) in enumerate(ratios.items()):
        v = np.asarray(values, dtype=float)
        ax.scatter(i + rng.uniform(-0.15, 0.15, v.size), v, s=14, color=COLORS.get(name, f"C{i}"))
        ax.hlines(v.mean(), i - 0.3, i + 0.3, color="k", linewidth=1.5)
    ax.axhline(1.0, color="0.5", linestyle=":", linewidth=1)
    ax.set_xticks(range(len(ratios)), list(ratios), fontsize=9)
    ax.set_yscale("log")
    ax.set_ylabel("phase ratio of gradient energy")
    ax.set_title("How unevenly pixels get gradient (1 = even)")
    ax.grid(alpha=0.3, axis="y")
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
