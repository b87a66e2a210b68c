"""What an experiment is and sees: :class:`Experiment`, :class:`Context`, :class:`ExperimentResult`.

An experiment declares its claims and budget in :class:`Experiment`; the runner
(:mod:`~checkerscope.experiments.runner`) hands its ``run`` a :class:`Context`, through which it
draws seeds, spreads per-seed work over worker processes (``ctx.map``), reuses shared trained
networks (``ctx.cached``) and hands each claim its per-seed numbers (``ctx.decide``), and gets
back an :class:`ExperimentResult` with captioned figures.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from checkerscope.audiofiles import Audio
from checkerscope.data import ImageSource
from checkerscope.experiments import config as C
from checkerscope.experiments import distributed, parallel
from checkerscope.experiments.artifacts import ArtifactCache
from checkerscope.experiments.decision import Claim, Values, decide
from checkerscope.experiments.settings import RunSettings
from checkerscope.files import plain_json

T = TypeVar("T")
R = TypeVar("R")

SEED_STRIDE = 1000
"""Seeds of one experiment are ``experiment seed + SEED_STRIDE * k``: room for sub-streams."""
EVIDENCE_KEYS = (
    "effect_size",
    "effect_size_name",
    "rule",
    "seeds_enough",
    "per_seed",
    "rule_result",
    "checks",
    "failed_checks",
    "not_decided_because",
    "items",
)
"""Evidence keys the runner writes; an experiment's own evidence may not use them."""


class ExperimentError(RuntimeError):
    """An experiment stopped for a reason the user can act on; the message says what to do."""


@dataclass
class ExperimentResult:
    """What ``run`` returns: numbers to record, figures (name -> matplotlib Figure), sounds
    (name -> :class:`~checkerscope.audiofiles.Audio`, samples (C, L) and their rate; written
    as WAV files and played in the report) and one caption per figure and per sound saying
    what to see or hear in it."""

    numbers: dict[str, Any]
    figures: dict[str, Any] = field(default_factory=dict)
    captions: dict[str, str] = field(default_factory=dict)
    sounds: dict[str, Audio] = field(default_factory=dict)


@dataclass(frozen=True)
class Experiment:
    """An experiment: id, title, declared claims, configs per scale, ``run``, and its budget
    (scale -> seconds of wall time on two idle CPU cores; see DEVELOPERS.md)."""

    id: str
    title: str
    claims: tuple[Claim, ...]
    configs: Mapping[str, Any]
    run: Callable[[Context], ExperimentResult]
    budget: Mapping[str, float] = field(default_factory=dict)

    @property
    def claim_ids(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.claims)


class Bar:
    """A handle on one progress bar: ``advance(n)`` (a bar of no progress display does nothing)."""

    def __init__(self, progress: Any, task: Any) -> None:
        self._progress, self._task = progress, task

    def advance(self, n: float = 1) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, n)


class Context:
    """Everything an experiment's ``run`` needs, for one experiment at one scale."""

    def __init__(
        self,
        experiment: Experiment,
        config: Any,
        settings: RunSettings,
        seed: int,
        data: ImageSource,
        dist: distributed.Dist,
        progress: Any,
        writer: Any,
    ) -> None:
        self.experiment = experiment
        self.config = config
        self.settings = settings
        self.scale = settings.scale
        self.jobs = settings.jobs
        self.seed = seed
        self.base_seed = settings.seed  # the run's --seed: shared networks key on it
        self.data = data
        self.checkpoint_dir = settings.out / "checkpoints" / experiment.id
        self.cache = ArtifactCache(settings.out / "cache")
        self.dist = dist
        self.device = dist.device
        self.decisions: dict[str, dict[str, Any]] = {}
        self.task_seconds = 0.0
        self.seed_list: list[int] = []
        self._maps = 0
        self._progress = progress
        self._writer = writer

    def seeds(self, n: int) -> list[int]:
        """The ``n`` independent seeds of this experiment (the unit of every statistical claim).

        Example:
            >>> ctx.seeds(3)  # doctest: +SKIP
            [1234, 2234, 3234]
        """
        self.seed_list = [self.seed + SEED_STRIDE * k for k in range(n)]
        return list(self.seed_list)

    @contextlib.contextmanager
    def progress(self, total: int, description: str, completed: int = 0) -> Iterator[Bar]:
        """A progress bar with ETA under the experiment's own, removed when the block ends.

        Inside a worker process (a task of ``ctx.map``) the bar counts nothing and shows nothing:
        only the main process draws."""
        if parallel.in_worker():
            yield Bar(None, None)
            return
        task = self._progress.add_task(
            f"  {self.experiment.id}: {description}", total=total, completed=completed
        )
        try:
            yield Bar(self._progress, task)
        finally:
            self._progress.remove_task(task)

    def map(self, fn: Callable[[T], R], items: Sequence[T], description: str = "tasks") -> list[R]:
        """``[fn(item) for item in items]``, the items spread over ``--jobs`` worker processes.

        Each task runs with one torch thread and seeded global random states, so the results do
        not depend on the number of jobs. ``fn`` may close over anything (workers are forked);
        it must not call ``ctx.progress`` or ``ctx.decide`` (``ctx.cached`` is fine). On CUDA
        and under torchrun the tasks run in this process, one after the other.
        """
        self._maps += 1
        jobs = 1 if self.device.type != "cpu" or self.dist.enabled else self.jobs
        seed = self.seed + 7 * self._maps
        results: dict[int, R] = {}
        with self.progress(len(items), description) as bar:
            for done in parallel.imap(fn, items, jobs, seed):
                results[done.index] = done.result
                self.task_seconds += done.seconds
                bar.advance()
        return [results[i] for i in range(len(items))]

    def shared_config(self, name: str) -> Any:
        """The configuration of shared artifact ``name`` (a table in :data:`config.SHARED`) at
        this run's scale, with the run's overrides for ``name`` applied: the same in every
        experiment, so every experiment asking for the artifact asks for the same one.

        Example:
            >>> ctx.shared_config("classifier").steps  # doctest: +SKIP
            800
        """
        return C.for_scale(C.SHARED[name], self.scale, self.settings.overrides.get(name))

    def cached(
        self, name: str, key: Mapping[str, Any], build: Callable[[Path], Mapping[str, Any]]
    ) -> dict[str, Any]:
        """A shared artifact (see :mod:`~checkerscope.experiments.artifacts`): built once per
        run by the first experiment asking for it, loaded by the others (under torchrun every
        process builds it together, so the build may train with ``ctx.dist``)."""
        return self.cache.get(name, key, build, self.dist)

    def decide(
        self,
        claim_id: str,
        *,
        per_seed: Values | None = None,
        seeds: Sequence[int] | None = None,
        guards: Mapping[str, Values] | None = None,
        checks: Mapping[str, bool] | None = None,
        effect: float | None = None,
        evidence: Mapping[str, Any] | None = None,
    ) -> bool:
        """Hand claim ``claim_id`` its numbers; the runner applies the declared rule.

        Statistical claims: ``per_seed`` (one effect per seed, in the order of ``seeds``, which
        defaults to the last ``ctx.seeds(n)``; or setting -> such a list) and ``guards`` (guard
        name -> per-seed numbers). Exact claims: ``checks`` (name -> bool) and ``effect``.
        ``evidence``: anything else worth recording (settings tried, references).
        """
        declared = {c.id: c for c in self.experiment.claims}
        if claim_id not in declared:
            raise ValueError(
                f"claim id {claim_id!r} is not declared by experiment {self.experiment.id!r}, "
                f"which declares {list(declared)}"
            )
        extra = plain_json(dict(evidence or {}))
        clash = sorted(set(extra) & set(EVIDENCE_KEYS))
        if clash:
            raise ValueError(f"evidence of claim {claim_id!r} uses the runner's keys {clash}")
        if seeds is None and per_seed is not None and self.seed_list:
            seeds = self.seed_list
        holds, decided = decide(
            declared[claim_id],
            self.scale,
            per_seed=per_seed,
            seeds=seeds,
            guards=guards,
            checks=checks,
            effect=effect,
        )
        self.decisions[claim_id] = {"holds": holds, "evidence": {**decided, **extra}}
        return holds

    def log_scalar(self, tag: str, value: float, step: int) -> None:
        """Log to TensorBoard (when installed) under ``<experiment id>/<tag>``; rank 0 only,
        and never from a worker process (tasks of ``ctx.map`` log nothing)."""
        if self._writer is not None and self.dist.is_main and not parallel.in_worker():
            self._writer.add_scalar(f"{self.experiment.id}/{tag}", value, step)
