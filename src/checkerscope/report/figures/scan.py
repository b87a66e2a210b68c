"""Figures of a folder scan: where in an image its checkerboard score comes from."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure


def score_map_figure(
    scores: np.ndarray, height: int, width: int, threshold: float, title: str = ""
) -> Figure:
    """The score of each window of an image (nH, nW) in dB, drawn over the image's extent
    (``height`` x ``width`` pixels), windows above ``threshold`` outlined.

    Example:
        >>> fig = score_map_figure(np.array([[1.0, 30.0], [2.0, 3.0]]), 128, 128, 12.0)
    """
    scores = np.asarray(scores, dtype=float)
    fig = Figure(figsize=(3.6, 3.6 * height / max(width, 1) + 0.4), layout="constrained")
    ax = fig.subplots()
    top = max(2 * threshold, float(np.nanmax(scores)) if scores.size else 0.0)
    shown = ax.imshow(
        scores,
        cmap="magma",
        vmin=0.0,
        vmax=top,
        extent=(0, width, height, 0),
        interpolation="nearest",
    )
    if scores.size and (scores > threshold).any():
        ax.contour(
            np.linspace(0, width, scores.shape[1] + 2)[1:-1],
            np.linspace(0, height, scores.shape[0] + 2)[1:-1],
            scores,
            levels=[threshold],
            colors="#4fc3f7",
            linewidths=1.2,
        )
    fig.colorbar(shown, ax=ax, label="window score (dB)", shrink=0.8)
    ax.set_title(title, fontsize=9)
    ax.tick_params(labelsize=7)
    return fig
