"""Build the reproduce report, ``OUT/index.html``, from ``OUT/results.json`` and the PNGs beside it.

The page is generic over experiments: one section per experiment, in the order of the registry
(or of results.json), titled and filled from what the runner wrote, so a new experiment needs no
template change. It reads results.json as :mod:`checkerscope.report.schema` lays it out, and
nothing else: the registry, when the caller passes it, only orders and titles the sections.
The claims table shows a claim's ``"effect_size"`` with its ``"effect_size_name"``, and
without one the first few numbers of the evidence, those named like an effect (with a word such
as ratio, difference, score or db between underscores) first; beside it the rule the claim was
declared with and, for claims decided over seeds, the per-seed effects. Each claim's evidence
opens with a per-seed table (one row per seed: the effect and every guard, failing cells
marked, one column group per setting tried) and the rule's result. A figure without a caption
is shown under its name. Sounds an experiment wrote (WAV) are inlined as players after its
figures, with their captions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from checkerscope.files import atomic_write_text
from checkerscope.report import html, schema

REPORT_NAME = "index.html"
# How many evidence numbers the claims table shows for a claim without an effect size, and the
# words (between underscores) of the names it shows first: those of sizes of effects rather
# than counts of cases.
KEY_NUMBERS = 3
KEY_WORDS = frozenset(
    [
        "effect",
        "ratio",
        "over",
        "difference",
        "diff",
        "score",
        "db",
        "gain",
        "amplitude",
        "imbalance",
        "contrast",
    ]
)
# The explorer's sliders: (name, label, min, max, start).
EXPLORER_SLIDERS = (
    ("kernel", "kernel size", 1, 8, 3),
    ("stride", "stride", 1, 4, 2),
    ("layers", "layers", 1, 4, 1),
    ("size", "input size", 1, 8, 6),
)
PAPER = "https://distill.pub/2016/deconv-checkerboard/"
# Environment keys shown first, with their labels.
ENVIRONMENT_FACTS = (
    ("scale", "scale"),
    ("device", "device"),
    ("world_size", "processes"),
    ("jobs", "worker processes (--jobs)"),
    ("cpus", "CPUs"),
    ("load_average_at_start", "load average at start"),
    ("data", "data"),
)
# Evidence keys shown in the per-seed table and the rule line, not again among the numbers.
DECISION_KEYS = ("per_seed", "rule_result", "rule", "effect_size", "effect_size_name")


class ExperimentInfo(Protocol):
    """What the report reads of a registered experiment (an ``experiments.Experiment``)."""

    @property
    def id(self) -> str: ...

    @property
    def title(self) -> str: ...

    @property
    def claim_ids(self) -> tuple[str, ...]: ...


def build(out: str | Path, experiments: Iterable[ExperimentInfo] | None = None) -> Path:
    """Write ``out/index.html`` from ``out/results.json`` and its figures; return its path.

    ``experiments`` (the registry, optional) sets the order and titles of the sections and lists
    the experiments and claims that have no results yet; without it the report shows what
    results.json holds. A results.json that is not of :mod:`~checkerscope.report.schema`'s
    layout raises ``ValueError`` naming it.

    Example:
        >>> build("results")  # doctest: +SKIP
        PosixPath('results/index.html')
    """
    out = Path(out)
    results_path = out / schema.RESULTS_FILE
    if not results_path.is_file():
        raise ValueError(
            f"out must be a folder holding results.json (written by `checkerscope reproduce`), "
            f"got {str(out)!r}"
        )
    results = schema.read_results(results_path)
    target = out / REPORT_NAME
    atomic_write_text(target, render_report(results, out, experiments))
    return target


def render_report(
    results: Mapping[str, Any],
    figure_dir: str | Path,
    experiments: Iterable[ExperimentInfo] | None = None,
) -> str:
    """The report page for ``results`` (the dict of results.json), figures read from ``figure_dir``.

    Example:
        >>> page = render_report({"claims": [], "experiments": {}, "environment": {}}, ".")
        >>> page.startswith("<!DOCTYPE html>")
        True
    """
    figure_dir = Path(figure_dir)
    registry = list(experiments or [])
    entries: Mapping[str, Any] = results.get("experiments") or {}
    claims = list(results.get("claims") or [])

    owner = {c: e.id for e in registry for c in e.claim_ids}
    titles = {e.id: e.title for e in registry}
    order = [e.id for e in registry] + [i for i in entries if i not in titles]
    for claim in claims:
        if claim.get("experiment"):
            owner.setdefault(claim["id"], claim["experiment"])
    for experiment_id, entry in entries.items():
        for claim_id in entry.get("claims") or []:
            owner.setdefault(claim_id, experiment_id)
    declared = {c["id"] for c in claims}
    for e in registry:
        for claim_id in e.claim_ids:
            if claim_id not in declared:
                claims.append({"id": claim_id, "statement": None, "holds": None, "evidence": {}})

    rows_by_experiment: dict[str | None, list[dict[str, Any]]] = {}
    for claim in claims:
        row = _claim_row(claim, owner.get(claim["id"]))
        rows_by_experiment.setdefault(row["experiment"], []).append(row)
    sections = [
        _section(i, entries.get(i), titles, rows_by_experiment.pop(i, []), figure_dir)
        for i in order
    ]
    # Claims whose experiment is unknown (no registry, older results) still get their evidence.
    orphans = [row for rows in rows_by_experiment.values() for row in rows]
    if orphans:
        sections.append(_section(None, None, titles, orphans, figure_dir))
    table = [row for section in sections for row in section["claims"]]

    environment = dict(results.get("environment") or {})
    return html.render(
        "reproduce.html.j2",
        claims=table,
        held=sum(row["holds"] is True for row in table),
        decided=sum(row["holds"] is not None for row in table),
        sections=sections,
        environment=environment,
        facts=_facts(environment, entries),
        sliders=EXPLORER_SLIDERS,
        paper=PAPER,
    )


def _claim_row(claim: Mapping[str, Any], experiment: str | None) -> dict[str, Any]:
    evidence = claim.get("evidence") or {}
    if isinstance(evidence, Mapping) and _is_number(evidence.get("effect_size")):
        name = evidence.get("effect_size_name") or "effect size"
        effect = [(str(name), evidence["effect_size"])]
    elif isinstance(evidence, Mapping):
        numbers = [(k, v) for k, v in evidence.items() if _is_number(v)]
        numbers.sort(key=lambda kv: KEY_WORDS.isdisjoint(kv[0].lower().split("_")))
        effect = numbers[:KEY_NUMBERS]
    else:
        effect = []
    holds = claim.get("holds")
    rule = evidence.get("rule") if isinstance(evidence, Mapping) else None
    declared_rule = claim.get("rule")
    if not rule and isinstance(declared_rule, Mapping):
        rule = declared_rule.get("text")
    table = per_seed_table(evidence) if isinstance(evidence, Mapping) else None
    shown = (
        {k: v for k, v in evidence.items() if k not in DECISION_KEYS}
        if table is not None
        else evidence
    )
    return {
        "id": claim["id"],
        "statement": claim.get("statement"),
        "holds": None if holds is None else bool(holds),
        "effect": effect,
        "rule": rule,
        "per_seed": table,
        "evidence": shown,
        "experiment": experiment,
    }


def per_seed_table(evidence: Mapping[str, Any]) -> dict[str, Any] | None:
    """The per-seed table of a claim's evidence (as the runner writes it), or None.

    Returns ``{"effect", "unit", "settings": [{"name", "passed", "summary", "columns"}],
    "rows": [{"seed", "cells": [(value, failing)]}]}``: one column for the effect and one per
    guard, for every setting tried; ``failing`` marks a seed that breaks the rule or a guard.

    Example:
        >>> t = per_seed_table({"per_seed": {"effect": "d", "unit": "dB", "seeds": [7, 8],
        ...     "values": [1.0, -1.0]}, "rule_result": {"rule": {"failing_seeds": [1]},
        ...     "guards": {}, "passed": False}})
        >>> [r["cells"] for r in t["rows"]]
        [[(1.0, False)], [(-1.0, True)]]
    """
    per = evidence.get("per_seed")
    if not isinstance(per, Mapping) or not isinstance(per.get("seeds"), list):
        return None
    settings = per.get("settings") if isinstance(per.get("settings"), Mapping) else None
    by_setting = dict(settings) if settings else {"": per.get("values") or []}
    result = evidence.get("rule_result") or {}
    groups, columns = [], []
    for name, values in by_setting.items():
        outcome = (result.get(name) if settings else result) or {}
        rule = outcome.get("rule") or {}
        cols = [_column(per.get("effect", "effect"), values, rule.get("failing_seeds"))]
        cols += [
            _column(guard, g.get("values") or [], g.get("failing_seeds"))
            for guard, g in (outcome.get("guards") or {}).items()
        ]
        summary = [(k, rule[k]) for k in ("mean", "lower_bound", "min") if _is_number(rule.get(k))]
        groups.append(
            {"name": name, "passed": outcome.get("passed"), "summary": summary, "span": len(cols)}
        )
        columns += cols
    rows = []
    for i, seed in enumerate(per["seeds"]):
        cells = [
            (c["values"][i] if i < len(c["values"]) else None, i in c["failing"]) for c in columns
        ]
        rows.append({"seed": seed, "cells": cells})
    return {
        "effect": per.get("effect"),
        "unit": per.get("unit") or "",
        "effects": [(name, list(values)) for name, values in by_setting.items()],
        "settings": groups,
        "labels": [c["label"] for c in columns],
        "rows": rows,
    }


def _column(label: str, values: Sequence[Any], failing: Iterable[int] | None) -> dict[str, Any]:
    return {"label": label, "values": list(values), "failing": set(failing or [])}


def _section(
    experiment_id: str | None,
    entry: Mapping[str, Any] | None,
    titles: Mapping[str, str],
    claims: Sequence[dict[str, Any]],
    figure_dir: Path,
) -> dict[str, Any]:
    if experiment_id is None:
        return {
            "id": "other-claims",
            "title": "Claims from experiments not in the registry",
            "ran": False,
            "claims": list(claims),
            "figures": [],
            "sounds": [],
            "numbers": {},
            "config": None,
            "seed": None,
            "seeds": None,
            "seconds": None,
            "cpu_seconds": None,
            "task_seconds": None,
            "budget_seconds": None,
        }
    entry = entry or {}
    captions = entry.get(schema.CAPTIONS) or {}
    figures = []
    for filename in entry.get("figures") or []:
        name = schema.figure_name(experiment_id, filename)
        path = figure_dir / Path(filename).name
        figures.append(
            {
                "file": filename,
                "caption": captions.get(name) or name.replace("_", " "),
                "uri": html.file_data_uri(path) if _inlinable(path) else None,
            }
        )
    sounds = []
    for filename in entry.get("sounds") or []:
        name = schema.figure_name(experiment_id, filename)
        path = figure_dir / Path(filename).name
        playable = path.is_file() and path.suffix.lower() in html.SOUND_TYPES
        sounds.append(
            {
                "file": filename,
                "caption": captions.get(name) or name.replace("_", " "),
                "uri": html.sound_data_uri(path) if playable else None,
            }
        )
    return {
        "id": experiment_id,
        "title": entry.get("title") or titles.get(experiment_id) or experiment_id,
        "ran": bool(entry),
        "claims": list(claims),
        "figures": figures,
        "sounds": sounds,
        "numbers": {k: v for k, v in entry.items() if k not in schema.NOT_NUMBERS},
        "config": entry.get("config"),
        "seed": entry.get("seed"),
        "seeds": entry.get("seeds"),
        "seconds": entry.get("seconds"),
        "cpu_seconds": entry.get("cpu_seconds"),
        "task_seconds": entry.get("task_seconds"),
        "budget_seconds": entry.get("budget_seconds"),
    }


def _facts(env: Mapping[str, Any], entries: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The few environment lines worth reading first; the full environment follows them."""
    facts = []
    for key, label in ENVIRONMENT_FACTS:
        if env.get(key) is not None:
            value = env[key]
            text = " ".join(map(str, value)) if isinstance(value, list) else str(value)
            facts.append((label, text))
    threads = env.get("threads")
    if isinstance(threads, Mapping):
        facts.append(("threads", ", ".join(f"{k} {v}" for k, v in threads.items())))
    elif threads is not None:
        facts.append(("threads per process", str(threads)))
    versions = env.get("versions") or {}
    if versions:
        facts.append(("versions", ", ".join(f"{k} {v}" for k, v in versions.items())))
    seeds = env.get("seeds") or {}
    if "base" in seeds:
        facts.append(("base seed", str(seeds["base"])))
    time = env.get("time") or {}
    for key in ("started", "resumed", "finished"):
        if time.get(key):
            facts.append((key, str(time[key])))
    seconds = [e.get("seconds") for e in entries.values() if _is_number(e.get("seconds"))]
    if seconds:
        facts.append(("experiment time", f"{sum(seconds):.1f} s over {len(seconds)} experiments"))
    wall = _elapsed(time.get("started"), time.get("finished"))
    if wall is not None:
        facts.append(("wall time", f"{wall:.1f} s"))
    return facts


def _elapsed(start: Any, end: Any) -> float | None:
    try:
        return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    except (TypeError, ValueError):
        return None


def _inlinable(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in html.IMAGE_TYPES


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
