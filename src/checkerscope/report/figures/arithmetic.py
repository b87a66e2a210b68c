"""Figures of the ``arithmetic`` experiment: one function per figure, numbers in, Figure out.

Drawn on ``matplotlib.figure.Figure`` (Agg when saved), never through pyplot's global state.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from checkerscope.report.figures.palette import ink


def overlap_bars(
    patterns: Mapping[tuple[int, int], Sequence[int]], periods_shown: int = 3
) -> Figure:
    """Interior 1-D overlap counts of each (kernel_size, stride), as bars, one panel each.

    ``patterns[(k, s)]`` is one period of the interior counts (as ``AxisOverlap.pattern``);
    ``periods_shown`` periods are drawn. Panels are laid out with strides as rows.

    Example:
        >>> fig = overlap_bars({(3, 2): [2, 1], (4, 2): [2]})
    """
    strides = sorted({s for _, s in patterns})
    kernels = sorted({k for k, _ in patterns})
    fig = Figure(figsize=(2.1 * len(kernels), 1.7 * len(strides) + 0.4), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(strides), len(kernels), squeeze=False))
    top = max(max(p) for p in patterns.values())
    for i, s in enumerate(strides):
        for j, k in enumerate(kernels):
            ax = axes[i, j]
            ax.set_xticks([])
            if (k, s) not in patterns:
                ax.axis("off")
                continue
            counts = np.tile(np.asarray(patterns[(k, s)], dtype=float), periods_shown)
            uneven = counts.min() != counts.max()
            ax.bar(np.arange(counts.size), counts, width=0.85, color="tab:red" if uneven else "0.3")
            ax.set_ylim(0, top * 1.15)
            lo, hi = counts.min(), counts.max()
            ratio = "gaps" if lo == 0 else f"{hi / lo:.3g}"
            ax.set_title(f"k{k} s{s}: max/min {ratio}", fontsize=9)
            if j:
                ax.set_yticks([])
    fig.suptitle("Interior 1-D overlap of one transposed convolution (red: uneven)")
    return fig


def ratio_maps(
    kernel_sizes: Sequence[int],
    strides: Sequence[int],
    ratio_1d: Mapping[tuple[int, int], float],
    ratio_2d: Mapping[tuple[int, int], float],
) -> Figure:
    """Max/min overlap ratio over the (kernel_size, stride) grid, 1-D beside 2-D, annotated.

    Cells where some output gets no path at all (k < s) read "gap".

    Example:
        >>> fig = ratio_maps([3, 4], [2], {(3, 2): 2.0, (4, 2): 1.0}, {(3, 2): 4.0, (4, 2): 1.0})
    """
    fig = Figure(figsize=(10, 0.7 * len(strides) + 1.8), layout="constrained")
    for ax, ratios, title in zip(
        fig.subplots(1, 2), (ratio_1d, ratio_2d), ("1-D", "2-D (1-D squared)"), strict=True
    ):
        grid = np.array([[ratios[(k, s)] for k in kernel_sizes] for s in strides], dtype=float)
        finite = np.where(np.isfinite(grid), grid, np.nan)
        image = ax.imshow(
            np.log2(finite), cmap="Reds", vmin=0, vmax=np.nanmax(np.log2(finite)) or 1
        )
        for i in range(len(strides)):
            for j in range(len(kernel_sizes)):
                value = grid[i, j]
                text = "gap" if math.isinf(value) else f"{value:.3g}"
                # gaps are drawn as the (white) background
                shade = (1.0, 1.0, 1.0) if math.isinf(value) else image.to_rgba(np.log2(value))
                ax.text(j, i, text, ha="center", va="center", fontsize=9, color=ink(shade))
        ax.set_xticks(range(len(kernel_sizes)), [str(k) for k in kernel_sizes])
        ax.set_yticks(range(len(strides)), [str(s) for s in strides])
        ax.set_xlabel("kernel size")
        ax.set_ylabel("stride")
        ax.set_title(f"{title}: interior max/min overlap")
    return fig


def overlap_maps(maps: Mapping[str, Any], periods_shown: int = 3) -> Figure:
    """2-D interior overlap patterns (one period each, tiled ``periods_shown`` times).

    ``maps[label]`` is a 2-D array of counts: one period, or a whole overlap map (then drawn
    as it is when larger than 8 x 8).

    Example:
        >>> fig = overlap_maps({"k3 s2": [[4, 2], [2, 1]]})
    """
    fig = Figure(figsize=(3.2 * len(maps), 3.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(maps)))
    for ax, (label, counts) in zip(axes, maps.items(), strict=True):
        grid = np.asarray(counts, dtype=float)
        if max(grid.shape) <= 8:
            grid = np.tile(grid, (periods_shown, periods_shown))
        image = ax.imshow(grid, cmap="magma", vmin=0, interpolation="nearest")
        lo, hi = grid.min(), grid.max()
        ax.set_title(f"{label}: max/min {'gaps' if lo == 0 else f'{hi / lo:.3g}'}")
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(image, ax=ax, shrink=0.7)
    fig.suptitle("2-D overlap: the two axes multiply")
    return fig


def stack_figure(
    stack_counts: Mapping[str, Sequence[int]], stride1: Mapping[str, Mapping[str, Any]]
) -> Figure:
    """Left: 1-D overlap of stacks of layers; right: what a stride-1 last layer leaves.

    ``stack_counts[label]`` is a whole 1-D overlap map. ``stride1[depth]`` is
    ``{"periods": [...], "rows": [{"kernel_size", "amplitudes": {period: amplitude}}]}``;
    each (depth, period) becomes one line of amplitude against the stride-1 kernel size.

    Example:
        >>> rows = [{"kernel_size": 1, "amplitudes": {"2": 0.3}}, {"kernel_size": 2,
        ...     "amplitudes": {"2": 0.0}}]
        >>> fig = stack_figure({"1 x k3 s2": [1, 1, 2, 1]}, {"1": {"periods": [2], "rows": rows}})
    """
    fig = Figure(figsize=(12, 3.8), layout="constrained")
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.5, 1]})
    for i, (label, counts) in enumerate(stack_counts.items()):
        c = np.asarray(counts, dtype=float)
        left.step(np.arange(c.size), c / c.max() + 1.2 * i, where="mid", label=label)
    left.set_yticks([])
    left.set_xlabel("output position")
    left.set_title("stacked k3 s2 layers: overlap (each scaled to its max, offset)")
    left.legend(loc="upper right", fontsize=8)
    for i, (depth, entry) in enumerate(stride1.items()):
        ks = [r["kernel_size"] for r in entry["rows"]]
        for p in entry["periods"]:
            amps = [r["amplitudes"][str(p)] for r in entry["rows"]]
            # Stacks of different depth share some curves exactly: dashes keep both visible.
            right.plot(
                ks,
                amps,
                marker="os^"[i % 3],
                linestyle=("-", "--", ":")[i % 3],
                label=f"{depth} x k3 s2, period {p}",
            )
    right.set_xlabel("kernel size of a stride-1 last layer (1: none)")
    right.set_ylabel("relative amplitude at the period")
    right.set_title("stride-1 layers remove periods dividing their size")
    right.grid(alpha=0.3)
    right.legend(fontsize=8)
    return fig
