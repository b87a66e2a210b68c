"""The settings of one run of the study, resolved once where the run starts and passed down whole.

``checkerscope reproduce`` (and a test, or a notebook) makes one :class:`RunSettings`; the
runner, the results file and every experiment read that object, never the raw options again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from checkerscope import checks
from checkerscope.experiments import config


@dataclass(frozen=True)
class RunSettings:
    """One run of the study: which experiments, at which scale, where, from which seed.

    * ``scale``: one of :data:`config.SCALES`, checked here; it picks every experiment's config;
    * ``out``: the folder of ``results.json``, the figures and the checkpoints;
    * ``only``: the ids of the experiments to run (None: all; empty or blank ids are refused,
      so ``--only ""`` never means "everything");
    * ``device``: ``"cpu"`` or ``"cuda"``; ``data``: a folder of images and/or sounds (None:
      the embedded photographs and sounds); ``resume``: skip finished experiments and continue
      the unfinished one;
    * ``seed``: the base seed, from which each experiment derives its own;
    * ``jobs``: worker processes for per-seed work (one torch thread each); the numbers do
      not depend on it (``checkerscope reproduce`` defaults it to the free cores);
    * ``show_progress``: progress bars; ``overrides``: experiment id -> {config field: value},
      applied to the scale's configs (tests shrink runs with it; ``--vgg-weights`` travels in it).

    Example:
        >>> s = RunSettings("quick", "runs/q", only=["gradients"])
        >>> s.out, s.only
        (PosixPath('runs/q'), ('gradients',))
    """

    scale: str
    out: Path
    only: tuple[str, ...] | None = None
    device: str = "cpu"
    data: Path | None = None
    resume: bool = False
    seed: int = 0
    jobs: int = 1
    show_progress: bool = True
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        config.check_scale(self.scale)
        checks.positive_int("jobs", self.jobs)
        # Callers may pass str paths and lists; the object keeps one type per field.
        object.__setattr__(self, "out", Path(self.out))
        if self.data is not None:
            object.__setattr__(self, "data", Path(self.data))
        if self.only is not None:
            object.__setattr__(self, "only", _ids(self.only))
        object.__setattr__(self, "overrides", {k: dict(x) for k, x in self.overrides.items()})


def _ids(only: Sequence[str] | str) -> tuple[str, ...]:
    ids = (only,) if isinstance(only, str) else tuple(only)
    if not ids or not all(isinstance(i, str) and i.strip() for i in ids):
        raise ValueError(
            f"only must name experiments, as comma-separated ids (leave it out to run them "
            f"all), got {','.join(map(str, ids))!r}"
        )
    return ids
