"""One registry of metrics, so the CLI, the report and the experiments name and format them alike.

Each entry says what it computes, in which unit, and which direction is bad. Other modules add
their own with :func:`register`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from checkerscope.analysis import score as S
from checkerscope.analysis import tones as T


@dataclass(frozen=True)
class Metric:
    """A named measurement: ``fn`` computes it, ``unit`` labels it, ``higher_is_worse`` orders it.

    ``threshold`` is the documented value above (or below) which a result is flagged, if any.
    """

    name: str
    fn: Callable[..., Any]
    unit: str
    higher_is_worse: bool
    description: str
    threshold: float | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def format(self, value: float) -> str:
        """``value`` with one decimal and the unit, e.g. ``"14.2 dB"``."""
        return f"{value:.1f} {self.unit}".rstrip()

    def is_bad(self, value: float) -> bool:
        """Whether ``value`` is past the threshold in the bad direction (False without one)."""
        if self.threshold is None:
            return False
        return value > self.threshold if self.higher_is_worse else value < self.threshold


METRICS: dict[str, Metric] = {}


def register(metric: Metric) -> Metric:
    """Add ``metric`` to :data:`METRICS`; a name can be registered only once."""
    if metric.name in METRICS:
        raise ValueError(f"metric name {metric.name!r} is already registered")
    METRICS[metric.name] = metric
    return metric


def get_metric(name: str) -> Metric:
    """The registered metric called ``name``.

    Example:
        >>> get_metric("checkerboard_score").unit
        'dB'
    """
    if name not in METRICS:
        choices = ", ".join(repr(n) for n in sorted(METRICS))
        raise ValueError(f"metric must be one of {choices}, got {name!r}")
    return METRICS[name]


register(
    Metric(
        "checkerboard_score",
        S.checkerboard_score,
        "dB",
        True,
        "energy at the period-2/4/8 lattice frequencies over what the image predicts there "
        "(2-D lattice against its ring and lines, rows and columns against their own axis)",
        threshold=S.THRESHOLD,
    )
)
register(
    Metric(
        "block_grid",
        S.block_grid,
        "dB",
        True,
        "mean squared step across the JPEG 8x8 grid lines over that at other offsets",
    )
)
register(
    Metric(
        "gradient_checkerboard",
        S.gradient_checkerboard,
        "dB",
        True,
        "checkerboard score of the gradient of a model's output with respect to its input",
        threshold=S.THRESHOLD,
    )
)
register(
    Metric(
        "tone_score",
        T.tone_score,
        "dB",
        True,
        "energy of sound at the tones of stride-2/4/8 upsamplers (a * fs / p) over the median "
        "of the spectrum around each, the loudest tone named in Hz",
        threshold=S.THRESHOLD,
    )
)
