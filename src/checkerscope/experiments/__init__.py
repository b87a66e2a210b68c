"""The experiments of ``checkerscope reproduce``, all sharing one runner (see ``runner.py``).

To add an experiment, write ``checkerscope/experiments/<name>.py`` defining ``EXPERIMENT`` (its
claims declared with :class:`Claim`, each decided by a rule over seeds: :mod:`decision`) and
add one line to :data:`MODULES`; DEVELOPERS.md ("Adding an experiment") walks through it.
Modules are imported only when experiments are listed, so ``checkerscope --help`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

from checkerscope.experiments import runner
from checkerscope.experiments.decision import (
    Claim,
    Effect,
    EverySeed,
    Exact,
    Guard,
    ItemsPass,
    MeanInterval,
)
from checkerscope.experiments.runner import (
    Context,
    Experiment,
    ExperimentError,
    ExperimentResult,
)
from checkerscope.experiments.settings import RunSettings

MODULES: tuple[str, ...] = (
    "checkerscope.experiments.gan",
    "checkerscope.experiments.strided_discriminator",
    "checkerscope.experiments.trained_upsamplers",
    "checkerscope.experiments.arithmetic",
    "checkerscope.experiments.init_artifacts",
    "checkerscope.experiments.strong_colors",
    "checkerscope.experiments.gradients",
    "checkerscope.experiments.feature_vis",
    "checkerscope.experiments.style_transfer",
    "checkerscope.experiments.architectures",
    "checkerscope.experiments.audio",
    "checkerscope.experiments.regularizer",
)


def registered() -> list[Experiment]:
    """Every registered experiment, in the order of :data:`MODULES`."""
    return [importlib.import_module(name).EXPERIMENT for name in MODULES]


def run(settings: RunSettings) -> dict[str, Any]:
    """Run the registered experiments of ``settings`` and write ``results.json``; see
    :func:`runner.run`.

    Example:
        >>> run(RunSettings("quick", "runs/quick", only=["arithmetic"]))  # doctest: +SKIP
    """
    return runner.run(registered(), settings)


__all__ = [
    "MODULES",
    "Claim",
    "Context",
    "Effect",
    "EverySeed",
    "Exact",
    "Experiment",
    "ExperimentError",
    "ExperimentResult",
    "Guard",
    "ItemsPass",
    "MeanInterval",
    "RunSettings",
    "registered",
    "run",
]
