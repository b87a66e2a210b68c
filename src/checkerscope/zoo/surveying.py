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

    * ``name``, ``domain``, ``role``, ``upsampler``, ``note``, ``sample_rate``: from its
      :class:`Architecture`; ``input_shape``, ``output_shape``: what was audited (no batch
      axis).
    * ``mode``: "outputs" for generators, "gradients" (the input gradient) for
      discriminators; ``seeds``, ``batch``: the audit's (``seeds`` counts them).
    * ``score``, ``ci``, ``flagged``, ``seed_scores``: the audit's mean score over seeds (dB),
      its two-sided 95% interval, whether the mean is past the threshold, the per-seed scores.
    * ``top_layer``: the upsampling or strided layer that adds the most (largest finite
      ``score``), or None where none was measured; ``top_layer_hz``: for audio, the
      fundamental of that layer's lattice in the model's output (or, for discriminators, its
      input) in Hz: its pattern repeats every stride samples at the layer, so its tones lie at
      the multiples of this frequency (:func:`lattice_hz`); None for images.
    * ``convert_default``: for generators, what ``convert(model)`` with its defaults replaces,
      or that it leaves the model unchanged and why ("" for discriminators).
    * ``fix``: what the audit's fix did (its description: for generators ``convert`` with
      ``subpixel="icnr"``, which also ties sub-pixel pairs by ICNR; for discriminators
      anti-aliased downsampling), or why there is none.
    * ``fixed_score``, ``fixed_ci``, ``fixed_flagged``, ``fixed_seed_scores``: the fixed model
      audited the same way, on the same seeds; None where there is no fix.
    * ``output_std``, ``fixed_output_std``: the standard deviation along the last axis of
      what was scored (outputs, or input gradients), averaged over the first seed's samples,
      for the model and its fix: a fix whose output hardly varies at init (see
      :data:`FAINT`) is scored on a faint signal.
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
    seed_scores: tuple[float, ...] = ()
    fixed_seed_scores: tuple[float, ...] | None = None
    convert_default: str = ""
    sample_rate: int | None = None
    top_layer_hz: float | None = None
    output_std: float = math.nan
    fixed_output_std: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON values (``nan`` becomes ``None``), the top layer as its dict."""
        fields = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "top_layer"}
        top = None if self.top_layer is None else self.top_layer.to_dict()
        return plain_json({**fields, "top_layer": top})


FAINT = 0.01
"""A fixed model whose output (gradient) varies less than this fraction of the original's at
init is marked in the table: its score is measured on a faint, nearly constant signal."""


def _spread(samples: torch.Tensor) -> float:
    return float(samples.double().std(dim=-1).mean())


def _top_layer(report: AuditReport) -> LayerAudit | None:
    measured = [layer for layer in report.layers if math.isfinite(layer.score)]
    return max(measured, key=lambda layer: layer.score, default=None)


def lattice_hz(report: AuditReport, layer: LayerAudit, sample_rate: float) -> float | None:
    """The fundamental (Hz) of ``layer``'s lattice in the audited 1-D signal: ``sample_rate``
    over ``stride * U`` samples, U being how much longer the model's output (gradients mode:
    input) is than the layer's output (input); None without a stride or for 2-D layers.

    Example:
        >>> from types import SimpleNamespace as NS
        >>> layer = NS(stride=(2,), input_size=(4096,), output_size=(8192,))
        >>> lattice_hz(NS(mode="outputs", output_shape=(1, 8192)), layer, 22050)
        11025.0
    """
    if layer.stride is None or len(layer.stride) != 1:
        return None
    if report.mode == "outputs":
        at_layer, at_model = layer.output_size[-1], report.output_shape[-1]
    else:
        at_layer, at_model = layer.input_size[-1], report.input_shape[-1]
    return sample_rate * at_layer / (layer.stride[0] * at_model)


def _upsamplers(report: AuditReport) -> str:
    """The kinds of the layers that enlarge their input, counted: "2 x pixel_shuffle"."""
    kinds = Counter(
        layer.kind
        for layer in report.layers
        if math.prod(layer.output_size) > math.prod(layer.input_size)
    )
    return ", ".join(f"{n} x {kind}" for kind, n in kinds.items()) or "none found"


def _class_name(text: str) -> str:
    """The class named at the start of a layer's repr; torch's class for a parametrized layer
    (``ParametrizedConvTranspose1d``) as the layer it wraps."""
    name = text.split("(")[0]
    plain = name.removeprefix("Parametrized")
    return name if plain == name else f"{plain} (parametrized)"


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
        (_class_name(c.original), _class_name(c.replacement)) for c in conversion.converted
    )
    text = ", ".join(f"{n} {old} -> {new}" for (old, new), n in pairs.items())
    if conversion.skipped:
        text += f"; {len(conversion.skipped)} left ({conversion.skipped[0][1].split(' (')[0]})"
    return f"convert(): {text}"


def survey_row(
    entry: Architecture,
    seeds: int | Sequence[int] = 8,
    batch: int = 4,
    device: torch.device | str | None = None,
) -> SurveyRow:
    """Audit one architecture as :func:`survey` does (``seeds`` as :func:`checkerscope.audit`
    takes them: a count, or the seeds themselves).

    Example:
        >>> from checkerscope.zoo import architecture
        >>> row = survey_row(architecture("edsr"), seeds=2)
        >>> row.mode, row.top_layer.kind, row.fix.split(":")[0]
        ('outputs', 'subpixel', "convert(model, init='fresh', subpixel='icnr')")
    """
    model = entry.factory(**entry.survey_kwargs)
    gradients = entry.role == "discriminator"
    start = time.perf_counter()
    report = audit(model, entry.input_shape, seeds, gradients=gradients, batch=batch, device=device)
    seconds = time.perf_counter() - start
    fixed = report.fix
    fix = fixed.description if fixed else "none: " + ("; ".join(report.notes) or "nothing to fix")
    top = _top_layer(report)
    hz = None
    if entry.sample_rate is not None and top is not None:
        hz = lattice_hz(report, top, entry.sample_rate)
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
        top_layer=top,
        fix=fix,
        fixed_score=fixed.score if fixed else None,
        fixed_ci=fixed.ci if fixed else None,
        fixed_flagged=fixed.flagged if fixed else None,
        seconds=seconds,
        seed_scores=report.seed_scores,
        fixed_seed_scores=fixed.seed_scores if fixed else None,
        convert_default="" if gradients else _convert_summary(model, report),
        sample_rate=entry.sample_rate,
        top_layer_hz=hz,
        output_std=_spread(report.samples),
        fixed_output_std=_spread(fixed.samples) if fixed else None,
    )


def survey(
    names: Sequence[str] | None = None,
    seeds: int | Sequence[int] = 8,
    batch: int = 4,
    device: torch.device | str | None = None,
) -> list[SurveyRow]:
    """Audit each architecture of the zoo at random init, and its fix, in :data:`ARCHITECTURES`
    order (``names=None``: all of them).

    Each is built at its defaults (plus the entry's ``survey_kwargs``) and passed to
    :func:`checkerscope.audit` with ``seeds`` seeds of ``batch`` random inputs of its
    ``input_shape``: generators' outputs are scored and ``convert(model, subpixel="icnr")`` is
    the fix (what ``convert(model)`` does with its defaults is recorded too); discriminators'
    input gradients are scored and anti-aliased downsampling is the fix.
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


def _layer_cell(row: SurveyRow) -> str:
    if row.top_layer is None:
        return "-"
    layer = row.top_layer
    metric = score_metric(row).format(layer.score)
    text = f"`{layer.name or '<root>'}` {layer.kind} {metric}"
    if row.top_layer_hz is not None:
        text += f", tones at multiples of {row.top_layer_hz:.0f} Hz"
    return text


def _flag_cell(row: SurveyRow) -> str:
    if row.ci[0] > THRESHOLD:
        return f"yes (95% CI above {THRESHOLD:g})"
    return "yes" if row.flagged else "no"


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
        f"the input shape in brackets. Generators: outputs scored, fixed by "
        f'`checkerscope.convert(model, subpixel="icnr")`; discriminators: input gradients '
        f"scored, fixed by anti-aliased downsampling.",
        "",
        "| Architecture | Domain | Resampling | Score dB (95% CI) | Flagged | Layer adding most | "
        "`convert(model)` | Fix measured | After fix dB (95% CI) |",
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
        domain = r.domain if r.mode == "outputs" else f"{r.domain}, discriminator (gradients)"
        after = "-" if r.fixed_score is None else _with_ci(r.fixed_score, r.fixed_ci)
        if r.fixed_flagged:
            after += " (flagged)"
        if r.fixed_output_std is not None and r.fixed_output_std < FAINT * r.output_std:
            faint = (
                f"at init the fixed model's output hardly varies (standard deviation "
                f"{r.fixed_output_std:.1e} against {r.output_std:.1e} before the fix): its "
                f"score is measured on a faint signal"
            )
            notes.append(faint)
            after += _MARKS[(len(notes) - 1) % len(_MARKS)]
        cells = [
            f"{name} ({shape})",
            domain,
            r.upsampler,
            _with_ci(r.score, r.ci),
            _flag_cell(r),
            _layer_cell(r),
            r.convert_default or "-",
            r.fix,
            after,
        ]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    for i, note in enumerate(notes):
        lines += ["", f"{_MARKS[i % len(_MARKS)]} {note}"]
    return "\n".join(lines) + "\n"
