"""Figures of the ``architectures`` experiment: one function per figure, numbers in, Figure out.

Drawn on ``matplotlib.figure.Figure`` (Agg when saved), never through pyplot's global state.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

Interval = tuple[float, float]


def _row(
    ax: Axes,
    y: float,
    values: Sequence[float],
    ci: Interval,
    color: str,
    label: str | None,
    rng: np.random.Generator,
) -> None:
    v = np.asarray(values, dtype=float)
    ax.scatter(v, y + rng.uniform(-0.12, 0.12, v.size), s=9, alpha=0.55, color=color, label=label)
    if all(np.isfinite(ci)):
        ax.plot(ci, [y, y], color=color, linewidth=3, solid_capstyle="butt")
    ax.plot([v.mean()] * 2, [y - 0.25, y + 0.25], color=color, linewidth=2)


def scores_by_architecture(
    labels: Sequence[str],
    before: Sequence[Sequence[float]],
    before_ci: Sequence[Interval],
    after: Sequence[Sequence[float] | None],
    after_ci: Sequence[Interval | None],
    threshold: float,
    exhibits: Sequence[bool | None],
) -> Figure:
    """Per architecture (one row each, top to bottom), the score of every seed at random init
    (dots), the mean (tick) and the 95% interval over seeds (bar), before the fix (red) and
    after it (blue); a dashed line at ``threshold``. Rows whose ``exhibits`` is True are marked
    with a filled square at the left, False with an open one, None (not counted) with none.

    Example:
        >>> fig = scores_by_architecture(["a", "b"], [[20.0, 22.0], [1.0, 2.0]],
        ...     [(18.0, 24.0), (0.0, 3.0)], [[1.0, 1.5], None], [(0.5, 2.0), None], 12.0,
        ...     [True, False])
    """
    n = len(labels)
    fig = Figure(figsize=(8, 1.2 + 0.38 * n), layout="constrained")
    ax = fig.subplots()
    rng = np.random.default_rng(0)  # a fixed jitter, so the figure is reproducible
    for i in range(n):
        y = n - 1 - i
        first = i == 0
        _row(
            ax,
            y + 0.15,
            before[i],
            before_ci[i],
            "tab:red",
            "at random init" if first else None,
            rng,
        )
        values, ci = after[i], after_ci[i]
        if values is not None and ci is not None:
            _row(ax, y - 0.15, values, ci, "tab:blue", "after the fix" if first else None, rng)
    ax.axvline(
        threshold, color="k", linestyle="--", linewidth=1, label=f"threshold {threshold:g} dB"
    )
    left = min(min(min(b) for b in before), *(min(a) for a in after if a is not None), 0.0) - 3
    for i, verdict in enumerate(exhibits):
        if verdict is not None:
            ax.scatter([left], [n - 1 - i], marker="s", s=40, color="k",
                       facecolors="k" if verdict else "none")  # fmt: skip
    ax.set_yticks(range(n), list(reversed(labels)))
    ax.set_xlabel("checkerboard score (dB): per seed (dots), mean (tick), 95% interval (bar)")
    ax.set_title("Architectures at random init: does the whole interval clear the threshold?")
    ax.grid(alpha=0.3, axis="x")
    ax.legend(fontsize=8, loc="lower right")
    return fig
