"""The one text rendering of an audit: its per-layer table and its verdict.

``str(report)`` and the ``checkerscope audit`` command both draw from :func:`layer_table` and
:func:`summary_lines`, so the two cannot drift. Scores are formatted by the metric registry
(:func:`checkerscope.analysis.get_metric`), as everywhere else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from checkerscope.analysis.metrics import Metric, get_metric

if TYPE_CHECKING:
    from checkerscope.auditing.report import AuditReport

VERDICTS = ("not flagged", "flagged")
"""How a verdict reads, indexed by ``report.flagged``."""

_METRIC_OF_MODE = {"outputs": "checkerboard_score", "gradients": "gradient_checkerboard"}


@dataclass(frozen=True)
class LayerTable:
    """The per-layer table of an audit as text cells: a title, column names, a row per layer.

    ``numeric[i]`` says whether column ``i`` holds numbers (right-aligned, never cut).
    """

    title: str
    columns: tuple[str, ...]
    numeric: tuple[bool, ...]
    rows: tuple[tuple[str, ...], ...]

    def lines(self) -> list[str]:
        """The title, the column names and the rows as aligned plain text; none without rows."""
        if not self.rows:
            return []
        widths = [
            max(len(row[i]) for row in (self.columns, *self.rows)) for i in range(len(self.columns))
        ]

        def line(cells: tuple[str, ...]) -> str:
            aligned = (
                cell.rjust(width) if numeric else cell.ljust(width)
                for cell, width, numeric in zip(cells, widths, self.numeric, strict=True)
            )
            return "  ".join(aligned).rstrip()

        return [self.title, line(self.columns), *(line(row) for row in self.rows)]


def score_metric(report: AuditReport) -> Metric:
    """The registered metric that a report of this mode measures.

    Example:
        >>> from types import SimpleNamespace
        >>> score_metric(SimpleNamespace(mode="gradients")).name
        'gradient_checkerboard'
    """
    return get_metric(_METRIC_OF_MODE[report.mode])


def layer_table(report: AuditReport) -> LayerTable:
    """The table of ``report``'s layers: name, kind, sizes, analytic numbers, scores, the tone
    each layer adds (audits with a sample rate: the lowest tone of its pattern, at its own
    rate), and the kind and score of each layer in the fixed model (``"-"`` where the fix has
    none).

    Example:
        >>> from torch import nn
        >>> from checkerscope import audit
        >>> table = layer_table(audit(nn.Upsample(scale_factor=2), (1, 8, 8), seeds=1))
        >>> table.columns
        ('layer', 'kind', 'size', 'overlap', 'imbal.', 'adds', 'out')
        >>> [row[:6] for row in table.rows]
        [('<root>', 'upsample_nearest', '8x8>16x16', '1', '-', '0.0 dB')]
    """
    metric = score_metric(report)
    columns = ["layer", "kind", "size", "overlap", "imbal.", "adds", "out"]
    numeric = [False, False, False, True, True, True, True]
    tones = report.sample_rate is not None
    if tones:
        columns.append("tone")
        numeric.append(True)
    fixed = {layer.name: layer for layer in (report.fix.layers if report.fix else ())}
    if report.fix is not None:
        columns += ["fixed as", "then adds"]
        numeric += [False, True]
    rows = []
    for layer in report.layers:
        size = f"{'x'.join(map(str, layer.input_size))}>{'x'.join(map(str, layer.output_size))}"
        row = [layer.name or "<root>", layer.kind, size]
        row += [_number(layer.overlap_ratio), _number(layer.imbalance)]
        row += [_score(metric, layer.score), _score(metric, layer.output_score)]
        if tones:
            row.append(hertz(layer.tone_hz))
        if report.fix is not None:
            after = fixed.get(layer.name)
            row += [after.kind, _score(metric, after.score)] if after else ["-", "-"]
        rows.append(tuple(row))
    title = f"{report.model}: upsampling and strided layers"
    return LayerTable(title, tuple(columns), tuple(numeric), tuple(rows))


def summary_lines(report: AuditReport) -> list[str]:
    """The verdict on ``report``'s score, the fix's score and change, and the notes.

    Example:
        >>> from torch import nn
        >>> from checkerscope import audit
        >>> verdict = summary_lines(audit(nn.Upsample(scale_factor=2), (1, 8, 8), seeds=1))[0]
        >>> verdict.startswith("checkerboard score of the outputs of Upsample: ")
        True
        >>> verdict.endswith(" dB, not flagged (threshold 12.0 dB)")
        True
    """
    metric = score_metric(report)
    what = "outputs" if report.mode == "outputs" else "input gradients"
    lines = [
        f"checkerboard score of the {what} of {report.model}: "
        f"{_with_ci(metric, report.score, report.ci)}, {VERDICTS[report.flagged]} "
        f"(threshold {metric.format(report.threshold)})"
    ]
    if report.sample_rate is not None:
        lines.append(
            f"tones: a period-{report.period} pattern at {hertz(report.sample_rate)}, heard at "
            f"multiples of {hertz(report.tone_hz)}"
        )
    if report.fix is not None:
        fix = report.fix
        sign = "+" if fix.change >= 0 else ""
        lines.append(
            f"fix, {fix.description}: {_with_ci(metric, fix.score, fix.ci)} "
            f"({sign}{metric.format(fix.change)})"
        )
    lines.extend(f"note: {note}" for note in report.notes)
    return lines


def report_text(report: AuditReport) -> str:
    """``report`` as plain text: :func:`layer_table` aligned, then :func:`summary_lines`."""
    return "\n".join([*layer_table(report).lines(), *summary_lines(report)])


def hertz(x: float | None) -> str:
    """A frequency as the audit prints it: ``"-"`` when unknown, kHz from 1000 Hz.

    Example:
        >>> hertz(5512.5), hertz(86.1328), hertz(None)
        ('5.513 kHz', '86.13 Hz', '-')
    """
    if x is None or math.isnan(x):
        return "-"
    return f"{x / 1000:.4g} kHz" if x >= 1000 else f"{x:.4g} Hz"


def _number(x: float | None) -> str:
    return "-" if x is None or math.isnan(x) else f"{x:.3g}"


def _score(metric: Metric, x: float) -> str:
    return "-" if math.isnan(x) else metric.format(x)


def _with_ci(metric: Metric, score: float, ci: tuple[float, float]) -> str:
    if not all(math.isfinite(c) for c in ci):
        return metric.format(score)
    return f"{metric.format(score)} (95% CI {metric.format(ci[0])} to {metric.format(ci[1])})"
