"""Figures of the ``style_transfer`` experiment: numbers in, matplotlib Figure out.

Drawn on ``matplotlib.figure.Figure`` (Agg when saved), never through pyplot's global state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from checkerscope.report.figures.palette import COLORS


def _show(ax, image: torch.Tensor) -> None:  # type: ignore[no-untyped-def]
    ax.imshow(
        image.detach().float().cpu().clamp(0, 1).permute(1, 2, 0).numpy(), interpolation="nearest"
    )
    ax.axis("off")


def stylized(
    contents: torch.Tensor,
    style: torch.Tensor,
    outputs: Mapping[str, torch.Tensor],
    scores: Mapping[str, Sequence[float]],
) -> Figure:
    """Content crops (N, 3, H, W), the style image (3, h, w) and each variant's outputs.

    Images in [0, 1] (outputs are clamped to it); one column per crop, one row per variant
    with its checkerboard scores (dB) as titles, the style image on the left.

    Example:
        >>> fig = stylized(torch.rand(2, 3, 8, 8), torch.rand(3, 8, 8),
        ...                {"deconv": torch.rand(2, 3, 8, 8)}, {"deconv": [1.0, 2.0]})
    """
    n = contents.shape[0]
    fig = Figure(figsize=(2.0 * (n + 1), 2.1 * (len(outputs) + 1)), layout="constrained")
    axes = np.asarray(fig.subplots(len(outputs) + 1, n + 1, squeeze=False))
    _show(axes[0, 0], style)
    axes[0, 0].set_title("style", fontsize=9)
    for c in range(n):
        _show(axes[0, c + 1], contents[c])
        axes[0, c + 1].set_title("content", fontsize=9)
    for r, (name, batch) in enumerate(outputs.items(), start=1):
        axes[r, 0].axis("off")
        axes[r, 0].text(0.5, 0.5, name, ha="center", va="center", fontsize=10)
        for c in range(n):
            _show(axes[r, c + 1], batch[c])
            axes[r, c + 1].set_title(f"{scores[name][c]:.1f} dB", fontsize=9)
    return fig


def per_seed_measures(
    panels: Mapping[str, Mapping[str, Sequence[float]]],
    limits: Mapping[str, float] | None = None,
) -> Figure:
    """One panel per measure: each network's value in every seed, a line joining one seed.

    ``panels``: measure name -> network name -> one value per seed (the same seeds, in the
    same order, for every network); ``limits``: measure name -> a bound drawn dashed.

    Example:
        >>> scores = {"deconv": [9.0, 8.0], "resize_conv": [2.0, 3.0]}
        >>> fig = per_seed_measures({"score (dB)": scores}, {"score (dB)": 5.0})
    """
    limits = limits or {}
    fig = Figure(figsize=(4.2 * len(panels), 3.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    for ax, (title, by_network) in zip(axes, panels.items(), strict=True):
        names = list(by_network)
        values = np.asarray([by_network[n] for n in names], dtype=float)  # (networks, seeds)
        ax.plot(range(len(names)), values, color="0.6", linewidth=0.8, zorder=1)
        for i, name in enumerate(names):
            color = COLORS.get(name, f"C{i}")
            ax.scatter([i] * values.shape[1], values[i], s=18, color=color, zorder=2)
            ax.plot([i - 0.25, i + 0.25], [values[i].mean()] * 2, color=color, linewidth=2.5)
        if title in limits:
            ax.axhline(limits[title], color="k", linestyle="--", linewidth=1)
        ax.set_xticks(range(len(names)), names, rotation=15)
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3, axis="y")
    return fig


def loss_curves(curves: Mapping[str, Sequence[float]]) -> Figure:
    """Training loss per step of each variant (log scale), smoothed over 10 steps.

    Example:
        >>> fig = loss_curves({"deconv": [3.0, 2.0, 1.0], "resize_conv": [3.0, 2.5, 1.5]})
    """
    fig = Figure(figsize=(6, 3.6), layout="constrained")
    ax = fig.subplots()
    for i, (name, values) in enumerate(curves.items()):
        v = np.asarray(values, dtype=float)
        k = min(10, v.size)
        smooth = np.convolve(v, np.ones(k) / k, mode="valid")
        ax.plot(np.arange(k, v.size + 1), smooth, color=COLORS.get(name, f"C{i}"), label=name)
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("training loss")
    ax.grid(alpha=0.3)
    ax.legend()
    return fig
