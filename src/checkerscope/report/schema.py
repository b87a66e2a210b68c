"""The layout of ``results.json``: written by the experiments' runner, read by the report.

One definition for both sides, so the writer and the reader cannot drift::

    {"claims": [{"id", "experiment", "statement", "effect", "rule", "guards", "min_seeds",
                 "holds", "evidence": {...}}],
     "experiments": {id: {...numbers, "title", "claims": [ids], "figures": [png names],
                          "sounds": [wav names], "captions": {figure or sound name:
                          caption}, "config": {...}, "seed",
                          "seeds": [per-seed seeds], "seconds", "cpu_seconds",
                          "task_seconds", "budget_seconds"}},
     "environment": {"scale", "data", "device", "jobs", "threads", "versions", "seeds",
                     "time", ...}}

Every claim is written, declared and undecided (``"holds": null``), before any experiment
runs; a decided claim's evidence holds ``"rule"`` (its text), ``"per_seed"`` and
``"rule_result"`` (statistical claims) or ``"checks"`` (exact ones).

Conventions an experiment may follow, all optional, that the report reads:

- a claim's evidence holds ``"effect_size"`` (one number that says how strongly the claim holds
  or fails) and ``"effect_size_name"`` (what it measures, with its unit);
- an experiment's numbers hold ``"captions"``: figure name -> caption;
- a number whose key (or whose parent key) ends with :data:`SCORE_SUFFIX` is a checkerboard
  score, or a difference of scores, in dB, and is shown as the metric registry formats
  ``checkerboard_score``.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePath
from typing import Any

RESULTS_FILE = "results.json"
"""The file name of the results, in the output folder of ``checkerscope reproduce``."""

RUNNER_KEYS = (
    "title",
    "claims",
    "figures",
    "sounds",
    "captions",
    "config",
    "seconds",
    "cpu_seconds",
    "task_seconds",
    "budget_seconds",
    "seed",
    "seeds",
)
"""Keys the runner writes into an experiment's entry beside its numbers; numbers may not use
them."""

CAPTIONS = "captions"
"""Key of an experiment's numbers holding its figure captions (figure name -> caption)."""

NOT_NUMBERS = (*RUNNER_KEYS, CAPTIONS)
"""Keys of an experiment's entry that the report does not list among its numbers."""

SCORE_SUFFIX = "_db"
"""Ending of the keys of checkerboard scores (and differences of scores), in dB."""


def figure_file(experiment_id: str, name: str) -> str:
    """The PNG file name of figure ``name`` of an experiment.

    Example:
        >>> figure_file("gradients", "maps")
        'gradients_maps.png'
    """
    return f"{experiment_id}_{name}.png"


def sound_file(experiment_id: str, name: str) -> str:
    """The WAV file name of sound ``name`` of an experiment.

    Example:
        >>> sound_file("audio", "init_transposed")
        'audio_init_transposed.wav'
    """
    return f"{experiment_id}_{name}.wav"


def figure_name(experiment_id: str, filename: str) -> str:
    """The figure (or sound) name in a file name written by :func:`figure_file` (or
    :func:`sound_file`): their inverse.

    Example:
        >>> figure_name("gradients", "gradients_maps.png")
        'maps'
    """
    return PurePath(filename).stem.removeprefix(f"{experiment_id}_")


def read_results(path: str | Path) -> dict[str, Any]:
    """The results file at ``path``, checked to have the layout above (every key optional).

    Raises:
        ValueError: naming the file, for one that cannot be read as UTF-8 JSON or whose
            values are not of the layout's types (what the report and the runner index).

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / RESULTS_FILE
        >>> _ = p.write_text('{"claims": 5}')
        >>> read_results(p)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: '...' is not a results file of ...: "claims" must be a list of objects ...
    """
    path = Path(path)
    try:
        results = json.loads(path.read_text("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{str(path)!r} is not valid JSON: {err}") from err
    problem = _layout_problem(results)
    if problem:
        raise ValueError(
            f"{str(path)!r} is not a results file of `checkerscope reproduce`: {problem}"
        )
    return results


def _layout_problem(results: Any) -> str | None:
    def listing(value: Any, item: type) -> bool:
        return isinstance(value, list) and all(isinstance(x, item) for x in value)

    if not isinstance(results, dict):
        return f"it holds a JSON {type(results).__name__}, not an object"
    claims = results.get("claims", [])
    if not listing(claims, dict) or not all(isinstance(c.get("id"), str) for c in claims):
        return '"claims" must be a list of objects with a string "id"'
    experiments = results.get("experiments", {})
    if not isinstance(experiments, dict) or not all(
        isinstance(e, dict) for e in experiments.values()
    ):
        return '"experiments" must map experiment ids to objects'
    for experiment_id, entry in experiments.items():
        for key, ok in (
            ("figures", listing(entry.get("figures", []), str)),
            ("sounds", listing(entry.get("sounds", []), str)),
            ("claims", listing(entry.get("claims", []), str)),
            (CAPTIONS, isinstance(entry.get(CAPTIONS, {}), dict)),
        ):
            if not ok:
                return f'"{key}" of experiment {experiment_id!r} has the wrong type'
    environment = results.get("environment", {})
    if not isinstance(environment, dict) or not all(
        isinstance(environment.get(key, {}), dict) for key in ("versions", "seeds", "time")
    ):
        return '"environment" must be an object whose "versions", "seeds", "time" are objects'
    return None
