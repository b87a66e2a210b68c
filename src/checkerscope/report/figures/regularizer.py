"""Figures of the ``regularizer`` experiment: one function per figure, numbers in, Figure out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from checkerscope.report.figures.palette import COLORS


def score_against_error(
    points: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    reference: str,
    close_db: float,
    threshold: float,
) -> Figure:
    """Checkerboard score (dB) against reconstruction MSE, one marker per seed and variant.

    ``points[variant]`` is (MSE per seed, score per seed); the band spans the mean score of
    ``reference`` to ``close_db`` above it, the dashed line is the flagging ``threshold``.

    Example:
        >>> fig = score_against_error({"a": ([0.01], [9.0]), "b": ([0.01], [2.0])}, "b", 3, 12)
    """
    fig = Figure(figsize=(9.5, 4.5), layout="constrained")
    ax = fig.subplots()
    base = float(np.mean(points[reference][1]))
    ax.axhspan(base, base + close_db, color=COLORS.get(reference, "tab:blue"), alpha=0.12)
    ax.axhline(threshold, color="grey", linestyle="--", linewidth=1)
    markers = {"": ("x", True), "checkerboard loss": ("o", True), "Durall loss": ("s", False)}
    for i, (name, (mse, score)) in enumerate(points.items()):
        plain, _, extra = name.partition(" + ")
        color = COLORS.get(plain, f"C{i}")
        marker, filled = markers.get(extra, ("^", True))
        face = color if filled else "none"
        ax.plot(mse, score, linestyle="none", marker=marker, color=color, markerfacecolor=face,
                markersize=7, label=name)  # fmt: skip
    ax.set_xlabel("held-out reconstruction MSE")
    ax.set_ylabel("checkerboard score (dB)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig
