"""Figures of the ``strong_colors`` experiment: one function per figure, numbers in, Figure out.

Drawn on ``matplotlib.figure.Figure`` (Agg when saved), never through pyplot's global state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from checkerscope.report.figures.palette import COLORS


def amplitude_vs_distance(
    distance: Sequence[float], measured: Mapping[str, Mapping[str, Sequence[Sequence[float]]]]
) -> Figure:
    """Checkerboard amplitude against the colour's distance from the mean colour.

    One panel per setting; ``measured[setting][variant]`` holds one curve per seed, each with
    one value per entry of ``distance``. Lines are the means over seeds, bands their range.

    Example:
        >>> fig = amplitude_vs_distance([0, 0.5], {"a": {"deconv": [[0.01, 0.05], [0.0, 0.04]]}})
    """
    fig = Figure(figsize=(4.2 * len(measured), 3.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(measured), sharey=True, squeeze=False)[0])
    x = np.asarray(distance, dtype=float)
    for ax, (setting, variants) in zip(axes, measured.items(), strict=True):
        for i, (variant, curves) in enumerate(variants.items()):
            values = np.asarray(curves, dtype=float)
            color = COLORS.get(variant, f"C{i + 2}")
            ax.fill_between(x, values.min(axis=0), values.max(axis=0), color=color, alpha=0.2)
            ax.plot(x, values.mean(axis=0), marker="o", color=color, label=variant)
        ax.set_title(setting)
        ax.set_xlabel("distance of the target colour from grey (RGB)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("checkerboard amplitude after training")
    axes[0].legend(fontsize=8, loc="upper left")
    fig.suptitle("Checkerboard left after fitting flat colours, by where the codes start")
    return fig


def color_outputs(
    outputs: Mapping[str, torch.Tensor], targets: torch.Tensor, levels: Sequence[float]
) -> Figure:
    """Outputs (N, 3, H, W) of each variant for targets (N, 3) from grey outwards, and their
    differences from the targets.

    Rows: the flat targets, each variant's outputs (clipped to [0, 1]), then each variant's
    ``output - target``, amplified by one gain for the whole figure (half the grey range over
    the largest difference) and centred on grey, so that sizes compare across panels.

    Example:
        >>> t = torch.rand(3, 3)
        >>> fig = color_outputs({"deconv": torch.rand(3, 3, 8, 8)}, t, [0.0, 0.5, 1.0])
    """
    n = targets.shape[0]
    rows = 1 + 2 * len(outputs)
    fig = Figure(figsize=(1.6 * n, 1.7 * rows), layout="constrained")
    axes = np.atleast_2d(fig.subplots(rows, n, squeeze=False))
    size = next(iter(outputs.values())).shape[-1] if outputs else 8
    goal = targets[:, :, None, None]
    largest = max((float((x - goal).abs().max()) for x in outputs.values()), default=0.0)
    gain = 0.5 / largest if largest > 0 else 1.0
    for j in range(n):
        flat = targets[j][:, None, None].expand(3, size, size)
        panels = (
            [("target", flat)]
            + [(v, x[j]) for v, x in outputs.items()]
            + [
                (f"{v} - target\n(x{gain:.0f})", 0.5 + gain * (x[j] - flat))
                for v, x in outputs.items()
            ]
        )
        for i, (label, image) in enumerate(panels):
            ax = axes[i, j]
            ax.imshow(image.detach().clamp(0, 1).permute(1, 2, 0).numpy(), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(label)
            if i == 0:
                ax.set_title(f"t = {levels[j]:.2f}", fontsize=9)
    fig.suptitle("Decoder outputs for flat colours from grey (t = 0) to red (t = 1)")
    return fig
