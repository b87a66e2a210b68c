"""Figures of the ``init_artifacts`` experiment: one function per figure, numbers in, Figure out.

Drawn on ``matplotlib.figure.Figure`` (Agg when saved), never through pyplot's global state.
The gallery of samples is :func:`checkerscope.report.figures.training.sample_grids`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from checkerscope.report.figures.palette import COLORS


def radial_spectra(
    frequency: Sequence[float], curves: Mapping[str, Sequence[float]], cutoff: float | None = None
) -> Figure:
    """Azimuthally averaged power spectra (dB) against frequency (cycles per pixel).

    ``curves[name]`` has one value per entry of ``frequency`` (as ``Spectrum.radial``); a
    dashed line marks ``cutoff``, the start of the high-frequency band.

    Example:
        >>> fig = radial_spectra([0.0, 0.25, 0.5], {"data": [0.0, -10.0, -20.0]}, cutoff=0.25)
    """
    fig = Figure(figsize=(7, 4.2), layout="constrained")
    ax = fig.subplots()
    for i, (name, curve) in enumerate(curves.items()):
        ax.plot(
            frequency,
            curve,
            color=COLORS.get(name, f"C{i}"),
            linewidth=2.5 if name == "data" else 1.5,
            linestyle="--" if name == "data" else "-",
            label=name,
        )
    if cutoff is not None:
        ax.axvline(cutoff, color="0.5", linestyle=":", label=f"{cutoff:g} cycles/pixel")
    ax.set_xlabel("spatial frequency (cycles per pixel)")
    ax.set_ylabel("power (dB)")
    ax.set_title("Radial spectra of random-init generators and of the data")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def score_distributions(
    scores: Mapping[str, Sequence[float]], data_score: float | None = None
) -> Figure:
    """Checkerboard score of each random generator (one dot per seed), per upsampler.

    Example:
        >>> fig = score_distributions({"deconv_k4": [10.0, 12.0], "resize_conv": [1.0, 2.0]}, 3.0)
    """
    fig = Figure(figsize=(8, 4), layout="constrained")
    ax = fig.subplots()
    rng = np.random.default_rng(0)  # a fixed jitter, so the figure is reproducible
    for i, (name, values) in enumerate(scores.items()):
        v = np.asarray(values, dtype=float)
        x = i + rng.uniform(-0.15, 0.15, v.size)
        color = COLORS.get(name, f"C{i}")
        ax.scatter(x, v, s=10, alpha=0.6, color=color)
        ax.plot([i - 0.3, i + 0.3], [v.mean()] * 2, color=color, linewidth=2.5)
    if data_score is not None:
        ax.axhline(data_score, color="k", linestyle="--", linewidth=1, label="data")
        ax.legend()
    ax.set_xticks(range(len(scores)), list(scores), rotation=20)
    ax.set_ylabel("checkerboard score (dB)")
    ax.set_title("Random-init generators: one dot per seed, bar at the mean")
    ax.grid(alpha=0.3, axis="y")
    return fig
