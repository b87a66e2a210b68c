"""The runner every experiment shares: claims declared up front, per-seed work, decisions, results.

An experiment is a module in ``checkerscope/experiments/`` that defines ``EXPERIMENT``, an
:class:`~checkerscope.experiments.context.Experiment`: its id and title, its claims
(:class:`~checkerscope.experiments.decision.Claim` declarations: statement, per-seed effect,
rule, guards), its configuration per scale (see ``config.py``), its compute budget per scale,
and ``run(ctx) -> ExperimentResult``.

Before any experiment runs, the runner writes every declared claim, with its rule, into
``OUT/results.json`` (undecided). Inside ``run`` the experiment reads ``ctx.config``,
``ctx.device`` and ``ctx.data``, draws its seeds with ``ctx.seeds(n)``, runs per-seed work in
worker processes with ``ctx.map(fn, items)``, reuses networks other experiments trained with
``ctx.cached(name, key, build)``, and hands each claim its per-seed numbers with
``ctx.decide(id, per_seed=..., seeds=..., guards=..., evidence=...)``: the runner applies the
declared rule. Every figure and sound it returns has a caption. The runner writes
``OUT/results.json`` after every experiment (atomically), the figures as
``OUT/<experiment id>_<name>.png`` and the sounds as ``OUT/<experiment id>_<name>.wav`` (16-bit)
beside it, as :mod:`checkerscope.report.schema` lays them out.
A run of some experiments (``only``) into a folder with earlier results adds to them: the
experiments it runs are replaced, the others kept, once the settings (scale, seed, data) are
checked to be those of the earlier results.

What to run, where and how is one :class:`~checkerscope.experiments.settings.RunSettings`. With
``resume`` finished experiments are skipped, the unfinished one finds its own checkpoints and
the shared artifacts are kept; without it, an experiment's old checkpoints are removed before
it runs and the run starts with no shared artifacts.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import time
import zlib
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from checkerscope.audiofiles import SUFFIXES as SOUND_SUFFIXES
from checkerscope.audiofiles import write_audio
from checkerscope.data import ImageSource
from checkerscope.experiments import config as C
from checkerscope.experiments import distributed, parallel
from checkerscope.experiments.artifacts import ArtifactCache
from checkerscope.experiments.context import (
    Bar,
    Context,
    Experiment,
    ExperimentError,
    ExperimentResult,
)
from checkerscope.experiments.parallel import seed_everything
from checkerscope.experiments.settings import RunSettings
from checkerscope.files import atomic_write_text, check_output_folder, plain_json
from checkerscope.images import SUFFIXES as IMAGE_SUFFIXES
from checkerscope.images import iter_image_files
from checkerscope.report import schema
from checkerscope.sounds import SoundSource

__all__ = [
    "Bar",
    "Context",
    "Experiment",
    "ExperimentError",
    "ExperimentResult",
    "cpu_seconds",
    "declarations",
    "experiment_seed",
    "run",
    "seed_everything",
    "tensorboard_writer",
]


def experiment_seed(seed: int, experiment_id: str) -> int:
    """The seed of one experiment: the same whichever other experiments run beside it."""
    return (seed * 1_000_003 + zlib.crc32(experiment_id.encode())) % 2**31


def cpu_seconds() -> float:
    """CPU time of this process and of its finished worker processes (user + system).

    Unlike wall time it hardly depends on what else runs on the machine, so it says whether an
    experiment fits its budget even when measured on a busy machine (the budget is wall time on
    two idle cores: about CPU time / 2 with two jobs).
    """
    import resource

    me, workers = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return me.ru_utime + me.ru_stime + workers.ru_utime + workers.ru_stime


def declarations(
    experiments: Sequence[Experiment], configs: Mapping[str, Any], scale: str
) -> list[dict[str, Any]]:
    """The undecided claim entries of results.json: every claim as declared, before the run."""
    return [
        {
            "id": claim.id,
            "experiment": e.id,
            **claim.declaration(configs[e.id], scale),
            "holds": None,
            "evidence": {},
        }
        for e in experiments
        for claim in e.claims
    ]


def run(experiments: Sequence[Experiment], settings: RunSettings) -> dict[str, Any]:
    """Run ``experiments`` (those named in ``settings.only``, if any); return the results dict.

    Writes ``settings.out/results.json`` with every claim declared before the first
    experiment starts, again after every experiment, and the figures beside it. Torch runs
    with one thread per process throughout (restored afterwards). Under ``torchrun`` every
    process runs every experiment; rank 0 alone writes files. With ``settings.only`` or
    ``settings.resume`` an existing results.json is added to (see the module's docs). The output
    folder and the data's images are checked before any work.

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
    bad = sorted(set(settings.overrides) - set(known) - set(C.SHARED))
    if bad:
        raise ValueError(
            f"overrides name unknown experiments {bad}; known: {known} and the shared "
            f"artifacts {sorted(C.SHARED)}"
        )
    configs = {
        e.id: C.with_overrides(e.configs[settings.scale], settings.overrides.get(e.id))
        for e in experiments
    }
    check_output_folder("out", settings.out)
    source = ImageSource(settings.data, C.DATA[settings.scale].strong_colors)
    if settings.data is not None:
        check_data(source)
    results_path = settings.out / schema.RESULTS_FILE

    threads = torch.get_num_threads()
    torch.set_num_threads(parallel.THREADS_PER_TASK)
    dist = distributed.setup(settings.device)
    try:
        results = _start_results(results_path, settings, source, dist)
        _declare(results, declarations(experiments, configs, settings.scale), settings.resume)
        if not settings.resume and dist.is_main:
            ArtifactCache(settings.out / "cache").clear()
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
        torch.set_num_threads(threads)


def check_data(images: ImageSource) -> None:
    """Decode every image and sound of the ``--data`` folder now, so that a bad file stops
    the run before any work. The folder may hold images, sounds (WAV, FLAC: the ``audio``
    experiment's), or both; one with neither is refused."""
    if images.folder is None:
        return
    sounds = SoundSource(images.folder)
    has_images = next(iter_image_files([images.folder]), None) is not None
    if not has_images and not sounds.files():
        raise ValueError(
            f"data folder {str(images.folder)!r} holds no image files "
            f"({', '.join(IMAGE_SUFFIXES)}) and no sound files ({', '.join(SOUND_SUFFIXES)})"
        )
    if has_images:
        images.images()
    sounds.check()


def _declare(results: dict[str, Any], declared: list[dict[str, Any]], resume: bool) -> None:
    """Put the declared claims into ``results``; a resumed run must declare them as before."""
    old = {c["id"]: c for c in results["claims"]}
    fixed = ("experiment", "statement", "effect", "rule", "guards", "min_seeds")
    for claim in declared:
        before = old.get(claim["id"])
        if before is None or not resume:
            old[claim["id"]] = claim
            continue
        changed = [k for k in fixed if before.get(k) != claim.get(k)]
        if changed:
            raise ValueError(
                f"resume must declare claim {claim['id']!r} as the interrupted run did; its "
                f"{changed} changed; run without --resume to start again"
            )
    order = [c["id"] for c in declared] + [i for i in old if i not in {c["id"] for c in declared}]
    results["claims"] = [old[i] for i in order]


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
    ctx = Context(experiment, config, settings, exp_seed, source, dist, progress, writer)
    if not settings.resume and dist.is_main and ctx.checkpoint_dir.exists():
        shutil.rmtree(ctx.checkpoint_dir)
    dist.barrier()
    seed_everything(exp_seed)
    start, cpu_start = time.perf_counter(), cpu_seconds()
    result = experiment.run(ctx)
    seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu_start

    decided = set(ctx.decisions)
    if decided != set(experiment.claim_ids):
        raise ExperimentError(
            f"experiment {experiment.id!r} declares claims {sorted(experiment.claim_ids)} but "
            f"decided {sorted(decided)}"
        )
    clash = sorted(set(result.numbers) & set(schema.RUNNER_KEYS))
    if clash:
        raise ExperimentError(f"experiment {experiment.id!r} numbers use reserved keys {clash}")
    for kind, named in (("figures", result.figures), ("sounds", result.sounds)):
        uncaptioned = sorted(set(named) - set(result.captions))
        if uncaptioned:
            raise ExperimentError(
                f"experiment {experiment.id!r} returned {kind} without a caption: {uncaptioned}"
            )
    both = sorted(set(result.figures) & set(result.sounds))
    if both:
        raise ExperimentError(f"experiment {experiment.id!r} names a figure and a sound {both}")
    figure_names = []
    for name, figure in result.figures.items():
        filename = schema.figure_file(experiment.id, name)
        if dist.is_main:
            figure.savefig(settings.out / filename, dpi=120, bbox_inches="tight")
        _close(figure)
        figure_names.append(filename)
    sound_names = []
    for name, (samples, rate) in result.sounds.items():
        filename = schema.sound_file(experiment.id, name)
        if dist.is_main:  # 16-bit, scaled down only where it would clip
            peak = float(samples.detach().abs().max())
            write_audio(settings.out / filename, samples / max(peak, 1.0), rate)
        sound_names.append(filename)
    results["experiments"][experiment.id] = {
        **plain_json(result.numbers),
        "title": experiment.title,
        "claims": list(experiment.claim_ids),
        "figures": figure_names,
        "sounds": sound_names,
        "captions": dict(result.captions),
        "config": C.as_dict(config),
        "seed": exp_seed,
        "seeds": ctx.seed_list,
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu, 3),
        "task_seconds": round(ctx.task_seconds, 3),
        "budget_seconds": experiment.budget.get(settings.scale),
    }
    for claim in results["claims"]:
        if claim["id"] in ctx.decisions:
            claim.update(ctx.decisions[claim["id"]])
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
    env["jobs"] = settings.jobs
    return results


def _environment(
    settings: RunSettings, source: ImageSource, dist: distributed.Dist
) -> dict[str, Any]:
    import checkerscope

    device = str(dist.device)
    if dist.device.type == "cuda":
        device += f" ({torch.cuda.get_device_name(dist.device)})"
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    return {
        "scale": settings.scale,
        "data": source.source,
        "device": device,
        "world_size": dist.world_size,
        "jobs": settings.jobs,
        "threads": {
            "torch_per_task": parallel.THREADS_PER_TASK,
            "torch_interop": torch.get_num_interop_threads(),
            **{k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")},
        },
        "cpus": parallel.cpu_count(),
        "load_average_at_start": load,
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
