"""The experiments of ``checkerscope reproduce``, all sharing one runner (see ``runner.py``).

To add an experiment, write ``checkerscope/experiments/<name>.py`` defining ``EXPERIMENT`` and
add one line to :data:`MODULES`. Modules are imported only when experiments are listed, so
``checkerscope --help`` stays fast.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from checkerscope.experiments.runner import (
    Claim,
    Context,
    Experiment,
    ExperimentError,
    ExperimentResult,
)

MODULES: tuple[str, ...] = (
    "checkerscope.experiments.gan",
    "checkerscope.experiments.arithmetic",
    "checkerscope.experiments.init_artifacts",
    "checkerscope.experiments.strong_colors",
    "checkerscope.experiments.gradients",
    "checkerscope.experiments.feature_vis",
    "checkerscope.experiments.style_transfer",
)


def experiments() -> list[Experiment]:
    """Every registered experiment, in the order of :data:`MODULES`."""
    return [importlib.import_module(name).EXPERIMENT for name in MODULES]


def run(
    scale: str = "quick",
    out: str | Path = "results",
    only: Sequence[str] | None = None,
    device: str = "cpu",
    data: str | Path | None = None,
    resume: bool = False,
    seed: int = 0,
    show_progress: bool = True,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Run the registered experiments and write ``out/results.json``; see :func:`runner.run`."""
    from checkerscope.experiments import runner

    return runner.run(
        experiments(), scale, out, only, device, data, resume, seed, show_progress, overrides
    )


__all__ = [
    "MODULES",
    "Claim",
    "Context",
    "Experiment",
    "ExperimentError",
    "ExperimentResult",
    "experiments",
    "run",
]
