"""The zoo's survey: each architecture audited at random init, the layer that adds the most,
and what the article's fix does to it (:func:`survey`, :class:`SurveyRow`), rendered once as
a markdown table for the README (:func:`survey_markdown`).

Odena, Dumoulin & Olah (2016) observe that "a large fraction of recent models exhibit this
behavior"; the survey measures it on the models people use, from :func:`checkerscope.audit`
and :func:`checkerscope.convert` at run time, never from stored numbers.
"""

from __future__ import annotations

import math
import time
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from checkerscope.analysis.score import THRESHOLD
from checkerscope.auditing import AuditReport, LayerAudit, audit
from checkerscope.auditing.render import score_metric
from checkerscope.conversion import convert
from checkerscope.files import plain_json
from checkerscope.zoo.registry import ARCHITECTURES, Architecture, architecture


@dataclass(frozen=True)
class SurveyRow:
    """One architecture's audit in the survey.

    * ``name``, ``domain``, ``role``, ``upsampler``, ``note``: from its :class:`Architecture`;
      ``input_shape``, ``output_shape``: what was audited (no batch axis).
    * ``mode``: "outputs" for generators, "gradients" (the input gradient) for
      discriminators; ``seeds``, ``batch``: the audit's.
    * ``score``, ``ci``, ``flagged``: the audit's mean score over seeds (dB), its 95% interval
      and whether it is past the threshold.
    * ``top_layer``: the upsampling or strided layer that adds the most (largest finite
      ``score``), or None where none was measured.
    * ``fix``: for generators, what ``convert(model)`` replaced, or that it left the model
      unchanged and why; for discriminators, the audit's anti-aliasing.
    * ``fixed_score``, ``fixed_ci``, ``fixed_flagged``: the fixed model audited the same way;
      None where the fix changed nothing.
    * ``seconds``: wall time of the audit.
    """

    name: str
    domain: str
    role: str
    upsampler: str
    note: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    mode: str
    seeds: int
    batch: int
    score: float
    ci: tuple[float, float]
    flagged: bool
    top_layer: LayerAudit | None
    fix: str
    fixed_score: float | None
    fixed_ci: tuple[float, float] | None
    fixed_flagged: bool | None
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON values (``nan`` becomes ``None``), the top layer as its dict."""
        fields = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "top_layer"}
        top = None if self.top_layer is None else self.top_layer.to_dict()
        return plain_json({**fields, "top_layer": top})


def _top_layer(report: AuditReport) -> LayerAudit | None:
    measured = [layer for layer in report.layers if math.isfinite(layer.score)]
    return max(measured, key=lambda layer: layer.score, default=None)


def _upsamplers(report: AuditReport) -> str:
    """The kinds of the layers that enlarge their input, counted: "2 x pixel_shuffle"."""
    kinds = Counter(
        layer.kind
        for layer in report.layers
        if math.prod(layer.output_size) > math.prod(layer.input_size)
    )
    return ", ".join(f"{n} x {kind}" for kind, n in kinds.items()) or "none found"


def _convert_summary(model: nn.Module, report: AuditReport) -> str:
    """What ``convert(model)`` replaces, or why it leaves ``model`` as it is."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            _, conversion = convert(model, return_report=True)
    except ValueError as err:
        return f"unchanged: convert() cannot convert it ({err})"
    if not conversion.converted:
        return f"unchanged: convert() found nothing to replace (upsampling: {_upsamplers(report)})"
    pairs = Counter(
        (c.original.split("(")[0], c.replacement.split("(")[0]) for c in conversion.converted
    )
    text = ", ".join(f"{n} {old} -> {new}" for (old, new), n in pairs.items())
    if conversion.skipped:
        text += f"; {len(conversion.skipped)} left ({conversion.skipped[0][1].split(' (')[0]})"
    return f"convert(): {text}"


def survey_row(
    entry: Architecture,
    seeds: int = 8,
    batch: int = 4,
    device: torch.device | str | None = None,
) -> SurveyRow:
    """Audit one architecture as :func:`survey` does.

    Example:
        >>> from checkerscope.zoo import architecture
        >>> row = survey_row(architecture("edsr"), seeds=2)
        >>> row.mode, row.top_layer.kind, row.fixed_score is None
        ('outputs', 'pixel_shuffle', True)
    """
    model = entry.factory(**entry.survey_kwargs)
    gradients = entry.role == "discriminator"
    start = time.perf_counter()
    report = audit(model, entry.input_shape, seeds, gradients=gradients, batch=batch, device=device)
    seconds = time.perf_counter() - start
    fixed = report.fix
    if gradients:
        fix = fixed.description if fixed else "; ".join(report.notes) or "unchanged"
    else:
        fix = _convert_summary(model, report)
    return SurveyRow(
        name=entry.name,
        domain=entry.domain,
        role=entry.role,
        upsampler=entry.upsampler,
        note=entry.note,
        input_shape=report.input_shape,
        output_shape=report.output_shape,
        mode=report.mode,
        seeds=report.seeds,
        batch=report.batch,
        score=report.score,
        ci=report.ci,
        flagged=report.flagged,
        top_layer=_top_layer(report),
        fix=fix,
        fixed_score=fixed.score if fixed else None,
        fixed_ci=fixed.ci if fixed else None,
        fixed_flagged=fixed.flagged if fixed else None,
        seconds=seconds,
    )


def survey(
    names: Sequence[str] | None = None,
    seeds: int = 8,
    batch: int = 4,
    device: torch.device | str | None = None,
) -> list[SurveyRow]:
    """Audit each architecture of the zoo at random init, and its fix, in :data:`ARCHITECTURES`
    order (``names=None``: all of them).

    Each is built at its defaults (plus the entry's ``survey_kwargs``) and passed to
    :func:`checkerscope.audit` with ``seeds`` seeds of ``batch`` random inputs of its
    ``input_shape``: generators' outputs are scored and ``convert(model)`` is the fix;
    discriminators' input gradients are scored and anti-aliased downsampling is the fix.
    About half a minute for all of them at the defaults, on one thread.

    Example:
        >>> [(row.name, row.flagged) for row in survey(["dcgan"], seeds=2)]
        [('dcgan', True)]
    """
    if names is None:
        names = list(ARCHITECTURES)
    elif isinstance(names, str) or not isinstance(names, Sequence):
        raise ValueError(f"names must be a sequence of architecture names or None, got {names!r}")
    entries = [architecture(name) for name in names]
    return [survey_row(entry, seeds, batch, device) for entry in entries]


_MARKS = ("†", "‡", "§", "¶")  # footnote marks: an asterisk would start emphasis in markdown


def _with_ci(value: float, ci: tuple[float, float] | None) -> str:
    if ci is None or not all(math.isfinite(c) for c in ci):
        return f"{value:.1f}"
    return f"{value:.1f} ({ci[0]:.1f} to {ci[1]:.1f})"


def survey_markdown(rows: Sequence[SurveyRow]) -> str:
    """The survey as a markdown table with a line on how it was measured, and the rows'
    notes as footnotes; scores in dB with their 95% intervals over seeds.

    Example:
        >>> table = survey_markdown(survey(["edsr"], seeds=2)).splitlines()
        >>> table[2].split(" | ")[:3], table[4].split(" | ")[:2]
        (['| Architecture', 'Domain', 'Resampling'], ['| `edsr` (3x16x16)', 'image'])
    """
    if not rows:
        raise ValueError("rows must hold at least one SurveyRow, got none")
    settings = sorted({(r.seeds, r.batch) for r in rows})
    how = "; ".join(f"{s} seeds x {b} inputs" for s, b in settings)
    lines = [
        f"Audited at random init by `checkerscope.audit` ({how} each; flagged above "
        f"{THRESHOLD:g} dB), each model at the small default widths of `checkerscope.zoo` and "
        f"the input shape in brackets. Generators: outputs scored, fix `checkerscope.convert`; "
        f"discriminators: input gradients scored, fix anti-aliased downsampling.",
        "",
        "| Architecture | Domain | Resampling | Scored | Score dB (95% CI) | Flagged | "
        "Layer adding most | After fix dB (95% CI) | What the fix did |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    notes: list[str] = []
    for r in rows:
        name = f"`{r.name}`"
        if r.note:
            if r.note not in notes:
                notes.append(r.note)
            name += _MARKS[notes.index(r.note) % len(_MARKS)]
        shape = "x".join(map(str, r.input_shape))
        scored = "outputs" if r.mode == "outputs" else "input gradients"
        top = "-"
        if r.top_layer is not None:
            layer = r.top_layer
            top = f"`{layer.name or '<root>'}` {layer.kind} {score_metric(r).format(layer.score)}"
        after = "unchanged" if r.fixed_score is None else _with_ci(r.fixed_score, r.fixed_ci)
        if r.fixed_flagged:
            after += " (flagged)"
        cells = [
            f"{name} ({shape})",
            r.domain,
            r.upsampler,
            scored,
            _with_ci(r.score, r.ci),
            "yes" if r.flagged else "no",
            top,
            after,
            r.fix.replace("|", "\\|"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    for i, note in enumerate(notes):
        lines += ["", f"{_MARKS[i % len(_MARKS)]} {note}"]
    return "\n".join(lines) + "\n"
