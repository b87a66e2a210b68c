"""The runner every experiment shares: seeding, device, data, progress bars, checkpoints, results.

An experiment is a module in ``checkerscope/experiments/`` that defines ``EXPERIMENT``, an
:class:`Experiment` naming its id, the ids of the claims it decides, its configuration per scale
(see ``config.py``) and a function ``run(ctx) -> ExperimentResult``. Inside ``run`` the
experiment reads ``ctx.config``, ``ctx.seed``, ``ctx.device`` and ``ctx.data``, shows progress
with ``ctx.progress(total, description)``, keeps resumable state under ``ctx.checkpoint_dir``,
and decides each of its claims from its own numbers with ``ctx.claim(id, statement, holds,
evidence)``. The runner writes ``OUT/results.json`` after every experiment (atomically), and the
figures as ``OUT/<experiment id>_<name>.png`` beside it, as :mod:`checkerscope.report.schema`
lays them out (with the conventions the report reads: a claim's ``"effect_size"``, figure
``"captions"``); ``checkerscope reproduce`` then renders ``OUT/index.html`` from them.
A run of some experiments (``only``) into a folder with earlier results adds to them: the
experiments it runs are replaced, the others kept, once the settings (scale, seed, data) are
checked to be those of the earlier results.

What to run, where and how is one :class:`~checkerscope.experiments.settings.RunSettings`. With
``resume`` finished experiments are skipped and the unfinished one finds its own checkpoints;
without it, an experiment's old checkpoints are removed before it runs.
"""

from __future__ import annotations

import contextlib
import json
import platform
import shutil
import sys
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from checkerscope.data import ImageSource
from checkerscope.experiments import config as C
from checkerscope.experiments import distributed
from checkerscope.experiments.settings import RunSettings
from checkerscope.files import atomic_write_text, check_output_folder, plain_json
from checkerscope.report import schema


class ExperimentError(RuntimeError):
    """An experiment stopped for a reason the user can act on; the message says what to do."""


@dataclass(frozen=True)
class Claim:
    """One statement of the study, decided by an experiment from its own numbers."""

    id: str
    statement: str
    holds: bool
    evidence: dict[str, Any]


@dataclass
class ExperimentResult:
    """What ``run`` returns: the numbers to record and the figures (name -> matplotlib Figure)."""

    numbers: dict[str, Any]
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Experiment:
    """An experiment: its id, the claim ids it decides, its configs per scale, and ``run``."""

    id: str
    title: str
    claims: tuple[str, ...]
    configs: Mapping[str, Any]
    run: Callable[[Context], ExperimentResult]


class Bar:
    """A handle on one progress bar: ``advance(n)``."""

    def __init__(self, progress: Any, task: Any) -> None:
        self._progress, self._task = progress, task

    def advance(self, n: float = 1) -> None:
        self._progress.advance(self._task, n)


class Context:
    """Everything an experiment's ``run`` needs, for one experiment at one scale."""

    def __init__(
        self,
        experiment: Experiment,
        config: Any,
        seed: int,
        data: ImageSource,
        checkpoint_dir: Path,
        dist: distributed.Dist,
        progress: Any,
        writer: Any,
    ) -> None:
        self.experiment = experiment
        self.config = config
        self.seed = seed
        self.data = data
        self.checkpoint_dir = checkpoint_dir
        self.dist = dist
        self.device = dist.device
        self.claims: list[Claim] = []
        self._progress = progress
        self._writer = writer

    @contextlib.contextmanager
    def progress(self, total: int, description: str, completed: int = 0) -> Iterator[Bar]:
        """A progress bar with ETA under the experiment's own, removed when the block ends."""
        task = self._progress.add_task(
            f"  {self.experiment.id}: {description}", total=total, completed=completed
        )
        try:
            yield Bar(self._progress, task)
        finally:
            self._progress.remove_task(task)

    def claim(self, id: str, statement: str, holds: bool, evidence: Mapping[str, Any]) -> Claim:
        """Record the verdict on claim ``id``; ``evidence`` holds the numbers it rests on."""
        if id not in self.experiment.claims:
            raise ValueError(
                f"claim id {id!r} is not declared by experiment {self.experiment.id!r}, "
                f"which declares {list(self.experiment.claims)}"
            )
        c = Claim(id, statement, bool(holds), plain_json(dict(evidence)))
        self.claims = [x for x in self.claims if x.id != id] + [c]
        return c

    def log_scalar(self, tag: str, value: float, step: int) -> None:
        """Log to TensorBoard (when installed) under ``<experiment id>/<tag>``; rank 0 only."""
        if self._writer is not None and self.dist.is_main:
            self._writer.add_scalar(f"{self.experiment.id}/{tag}", value, step)


def experiment_seed(seed: int, experiment_id: str) -> int:
    """The seed of one experiment: the same whichever other experiments run beside it."""
    return (seed * 1_000_003 + zlib.crc32(experiment_id.encode())) % 2**31


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (all devices)."""
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def run(experiments: Sequence[Experiment], settings: RunSettings) -> dict[str, Any]:
    """Run ``experiments`` (those named in ``settings.only``, if any); return the results dict.

    Writes ``settings.out/results.json`` after every experiment, and the figures beside it;
    with ``settings.only`` or ``settings.resume`` an existing results.json is added to (see
    the module's docs). Under ``torchrun`` every process runs every experiment; rank 0 alone
    writes files. The output folder and the data's images are checked before any work.

    Example:
        >>> from checkerscope.experiments import registered  # doctest: +SKIP
        >>> run(registered(), RunSettings("quick", "out", only=["arithmetic"]))  # doctest: +SKIP
    """
    known = [e.id for e in experiments]
    if settings.only:
        unknown = [i for i in settings.only if i not in known]
        if unknown:
            raise ValueError(f"only names unknown experiments {unknown}; known: {known}")
        experiments = [e for e in experiments if e.id in settings.only]
    bad = sorted(set(settings.overrides) - set(known))
    if bad:
        raise ValueError(f"overrides name unknown experiments {bad}; known: {known}")
    configs = {
        e.id: C.with_overrides(e.configs[settings.scale], settings.overrides.get(e.id))
        for e in experiments
    }
    check_output_folder("out", settings.out)
    source = ImageSource(settings.data, C.DATA[settings.scale].strong_colors)
    if settings.data is not None:
        source.images()  # decode them now: a bad image stops the run before any work
    results_path = settings.out / schema.RESULTS_FILE

    dist = distributed.setup(settings.device)
    try:
        results = _start_results(results_path, settings, source, dist)
        if dist.is_main:
            _write(results_path, results)
        writer = tensorboard_writer(settings.out / "tensorboard") if dist.is_main else None
        with _progress_display(dist.is_main and settings.show_progress) as progress:
            overall = progress.add_task("experiments", total=len(experiments))
            for experiment in experiments:
                if settings.resume and experiment.id in results["experiments"]:
                    progress.advance(overall)
                    continue
                progress.update(overall, description=f"experiments ({experiment.id})")
                config = configs[experiment.id]
                _run_one(experiment, config, settings, source, dist, progress, writer, results)
                if dist.is_main:
                    _write(results_path, results)
                progress.advance(overall)
        results["environment"]["time"]["finished"] = _now()
        if dist.is_main:
            _write(results_path, results)
        if writer is not None:
            writer.close()
        return results
    finally:
        distributed.cleanup()


def _run_one(
    experiment: Experiment,
    config: Any,
    settings: RunSettings,
    source: ImageSource,
    dist: distributed.Dist,
    progress: Any,
    writer: Any,
    results: dict[str, Any],
) -> None:
    exp_seed = experiment_seed(settings.seed, experiment.id)
    checkpoint_dir = settings.out / "checkpoints" / experiment.id
    ctx = Context(experiment, config, exp_seed, source, checkpoint_dir, dist, progress, writer)
    if not settings.resume and dist.is_main and ctx.checkpoint_dir.exists():
        shutil.rmtree(ctx.checkpoint_dir)
    dist.barrier()
    seed_everything(exp_seed)
    start = time.perf_counter()
    result = experiment.run(ctx)
    seconds = time.perf_counter() - start

    decided = {c.id for c in ctx.claims}
    if decided != set(experiment.claims):
        raise ExperimentError(
            f"experiment {experiment.id!r} declares claims {sorted(experiment.claims)} but "
            f"decided {sorted(decided)}"
        )
    clash = sorted(set(result.numbers) & set(schema.RUNNER_KEYS))
    if clash:
        raise ExperimentError(f"experiment {experiment.id!r} numbers use reserved keys {clash}")
    figure_names = []
    for name, figure in result.figures.items():
        filename = schema.figure_file(experiment.id, name)
        if dist.is_main:
            figure.savefig(settings.out / filename, dpi=120, bbox_inches="tight")
        _close(figure)
        figure_names.append(filename)
    results["experiments"][experiment.id] = {
        **plain_json(result.numbers),
        "title": experiment.title,
        "claims": list(experiment.claims),
        "figures": figure_names,
        "config": C.as_dict(config),
        "seed": exp_seed,
        "seconds": round(seconds, 3),
    }
    results["claims"] = [c for c in results["claims"] if c["id"] not in decided] + [
        {"id": c.id, "statement": c.statement, "holds": c.holds, "evidence": c.evidence}
        for c in ctx.claims
    ]
    results["environment"]["seeds"]["experiments"][experiment.id] = exp_seed


def _start_results(
    path: Path, settings: RunSettings, source: ImageSource, dist: distributed.Dist
) -> dict[str, Any]:
    """The results to add to: those in ``path`` when resuming or running some experiments
    (``only``), after checking that they were made with the same settings; else a new dict."""
    if not (settings.resume or settings.only is not None) or not path.exists():
        return {
            "claims": [],
            "experiments": {},
            "environment": _environment(settings, source, dist),
        }
    results = schema.read_results(path)
    results.setdefault("claims", [])
    results.setdefault("experiments", {})
    env = results.setdefault("environment", {})
    seeds = env.setdefault("seeds", {})
    seeds.setdefault("experiments", {})
    theirs = (env.get("scale"), seeds.get("base"), env.get("data"))
    ours = (settings.scale, settings.seed, source.source)
    if theirs != ours:
        scale, seed, data = theirs
        what = (
            "resume must use the settings of the interrupted run"
            if settings.resume
            else "only adds to the results of the earlier run, so it must use its settings"
        )
        raise ValueError(
            f"{what} in {str(path.parent)!r} (scale {scale!r}, seed {seed}, data {data!r}), "
            f"got scale {ours[0]!r}, seed {ours[1]}, data {ours[2]!r}: use the same settings, "
            f"or another out"
        )
    env.setdefault("time", {})["resumed" if settings.resume else "merged"] = _now()
    return results


def _environment(
    settings: RunSettings, source: ImageSource, dist: distributed.Dist
) -> dict[str, Any]:
    import checkerscope

    device = str(dist.device)
    if dist.device.type == "cuda":
        device += f" ({torch.cuda.get_device_name(dist.device)})"
    return {
        "scale": settings.scale,
        "data": source.source,
        "device": device,
        "world_size": dist.world_size,
        "threads": torch.get_num_threads(),
        "seeds": {"base": settings.seed, "experiments": {}},
        "versions": {
            "checkerscope": checkerscope.__version__,
            "python": platform.python_version(),
            "torch": torch.__version__,
            "numpy": np.__version__,
            "platform": platform.platform(),
        },
        "command": sys.argv,
        "time": {"started": _now()},
    }


def _write(path: Path, results: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(plain_json(results), indent=2, allow_nan=False) + "\n")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _close(figure: Any) -> None:
    import matplotlib.pyplot as plt

    plt.close(figure)


def tensorboard_writer(logdir: Path) -> Any:
    """A TensorBoard ``SummaryWriter`` logging to ``logdir``, or None when it is not installed."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(logdir))


def _progress_display(show: bool) -> Any:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        disable=not show,
    )
