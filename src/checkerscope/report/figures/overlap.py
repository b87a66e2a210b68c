"""Figures of overlap and operators: one function per figure, numbers in, matplotlib Figure out.

Drawn on ``matplotlib.figure.Figure`` (Agg when saved), never through pyplot's global state.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.figure import Figure


def overlap_figure(
    counts_1d: torch.Tensor | Sequence[int], counts_2d: torch.Tensor, title: str | None = None
) -> Figure:
    """The article's overlap figures: bars of the 1-D counts, and the 2-D counts as a map.

    ``counts_1d`` (L,) and ``counts_2d`` (H, W) as :func:`checkerscope.overlap` returns them.

    Example:
        >>> from checkerscope import overlap
        >>> fig = overlap_figure(overlap((3, 2), 6), overlap((3, 2), (6, 6)))
    """
    bars = np.asarray(counts_1d, dtype=float)
    grid = np.asarray(counts_2d, dtype=float)
    if bars.ndim != 1 or grid.ndim != 2:
        raise ValueError(
            f"counts_1d must be 1-D and counts_2d 2-D, got shapes {bars.shape} and {grid.shape}"
        )
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax_bars, ax_map = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.6, 1]})
    ax_bars.bar(np.arange(bars.size), bars, width=0.9, color="0.25")
    ax_bars.set_xlabel("output position")
    ax_bars.set_ylabel("paths (overlap count)")
    ax_bars.set_title("1-D overlap")
    ax_bars.set_ylim(0, max(bars.max(), 1) * 1.1)
    image = ax_map.imshow(grid, cmap="magma", interpolation="nearest", vmin=0)
    ax_map.set_title("2-D overlap (outer product)")
    ax_map.set_xticks([])
    ax_map.set_yticks([])
    fig.colorbar(image, ax=ax_map, shrink=0.8, label="paths")
    if title:
        fig.suptitle(title)
    return fig


def operator_matrix_figure(
    matrix_a: torch.Tensor, matrix_b: torch.Tensor, titles: Sequence[str] = ("A", "B")
) -> Figure:
    """Two operator matrices side by side (rows: outputs, columns: inputs), zero in white.

    Each panel has its own symmetric colour scale, so a sign and its size read the same way.

    Example:
        >>> fig = operator_matrix_figure(torch.eye(4), torch.ones(8, 4), ("deconv", "resize-conv"))
    """
    if len(titles) != 2:
        raise ValueError(f"titles must hold two strings, got {titles!r}")
    fig = Figure(figsize=(9, 5), layout="constrained")
    for ax, matrix, title in zip(fig.subplots(1, 2), (matrix_a, matrix_b), titles, strict=True):
        m = np.asarray(matrix, dtype=float)
        if m.ndim != 2:
            raise ValueError(f"each matrix must be 2-D, got shape {m.shape} for {title!r}")
        bound = max(float(np.abs(m).max()), 1e-12)
        ax.imshow(m, cmap="RdBu_r", vmin=-bound, vmax=bound, interpolation="nearest")
        ax.set_title(title)
        ax.set_xlabel("input position")
        ax.set_ylabel("output position")
    return fig
