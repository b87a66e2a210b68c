from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from PIL import Image

from checkerscope.experiments import config as C
from checkerscope.experiments.checkpoint import load_checkpoint, save_checkpoint
from checkerscope.experiments.runner import (
    Context,
    Experiment,
    ExperimentError,
    ExperimentResult,
    experiment_seed,
    run,
)
from checkerscope.experiments.settings import RunSettings


@dataclasses.dataclass(frozen=True)
class TinyConfig:
    n: int
    steps: int = 4


TINY = {"quick": TinyConfig(3), "default": TinyConfig(5), "full": TinyConfig(7)}


def noise_experiment(id: str, calls: list[str] | None = None) -> Experiment:
    """Draws ``n`` numbers from the global torch RNG and claims their mean is below 10."""

    def go(ctx: Context) -> ExperimentResult:
        if calls is not None:
            calls.append(id)
        with ctx.progress(ctx.config.n, "drawing") as bar:
            draws = []
            for _ in range(ctx.config.n):
                draws.append(float(torch.randn(())))
                bar.advance()
        mean = sum(draws) / len(draws)
        ctx.claim(f"{id}_small", "The mean of the draws is below 10.", mean < 10, {"mean": mean})
        fig = Figure()
        fig.subplots().plot(draws)
        return ExperimentResult({"draws": draws, "nan": float("nan")}, {"draws": fig})

    return Experiment(id, f"noise {id}", (f"{id}_small",), TINY, go)


def stepping_experiment(id: str, steps_done: list[int], fail_at: int | None = None) -> Experiment:
    """Counts to ``steps`` with a checkpoint after each step; fails once at ``fail_at``."""

    def go(ctx: Context) -> ExperimentResult:
        path = ctx.checkpoint_dir / "state.pt"
        step = load_checkpoint(path)["step"] if path.exists() else 0
        while step < ctx.config.steps:
            if step == fail_at and not steps_done.count(-1):
                steps_done.append(-1)
                raise KeyboardInterrupt
            step += 1
            steps_done.append(step)
            save_checkpoint(path, {"step": step})
        ctx.claim(f"{id}_done", "Counted to the end.", True, {"step": step})
        return ExperimentResult({"step": step})

    return Experiment(id, "stepping", (f"{id}_done",), TINY, go)


def read(out: Path) -> dict:
    return json.loads((out / "results.json").read_text())


def test_results_file_has_claims_experiments_environment_and_figures(tmp_path) -> None:
    run(
        [noise_experiment("a"), noise_experiment("b")],
        RunSettings("quick", tmp_path, show_progress=False),
    )
    results = read(tmp_path)
    assert [c["id"] for c in results["claims"]] == ["a_small", "b_small"]
    claim = results["claims"][0]
    assert claim["holds"] is True and set(claim) == {"id", "statement", "holds", "evidence"}
    a = results["experiments"]["a"]
    assert len(a["draws"]) == 3 and a["nan"] is None
    assert a["config"] == {"n": 3, "steps": 4} and a["seconds"] >= 0
    assert a["figures"] == ["a_draws.png"]
    assert Image.open(tmp_path / "a_draws.png").size[0] > 10
    env = results["environment"]
    assert env["scale"] == "quick" and env["device"] == "cpu" and env["data"] == "embedded"
    assert env["versions"]["torch"] == torch.__version__
    assert env["seeds"]["experiments"]["a"] == experiment_seed(0, "a") == a["seed"]
    assert "started" in env["time"] and "finished" in env["time"]


def test_the_scale_picks_the_config_and_overrides_replace_fields(tmp_path) -> None:
    run([noise_experiment("a")], RunSettings("default", tmp_path, show_progress=False))
    assert len(read(tmp_path)["experiments"]["a"]["draws"]) == 5
    run(
        [noise_experiment("a")],
        RunSettings("full", tmp_path, show_progress=False, overrides={"a": {"n": 2}}),
    )
    assert read(tmp_path)["experiments"]["a"]["config"]["n"] == 2
    with pytest.raises(ValueError, match="unknown fields \\['m'\\] of TinyConfig"):
        run([noise_experiment("a")], RunSettings("quick", tmp_path, overrides={"a": {"m": 1}}))
    with pytest.raises(ValueError, match="scale must be one of 'quick', 'default', 'full'"):
        run([noise_experiment("a")], RunSettings("huge", tmp_path))


def test_an_experiment_gets_the_same_seed_whatever_runs_beside_it(tmp_path) -> None:
    both, alone = tmp_path / "both", tmp_path / "alone"
    run(
        [noise_experiment("a"), noise_experiment("b")],
        RunSettings("quick", both, show_progress=False),
    )
    exps = [noise_experiment("a"), noise_experiment("b")]
    run(exps, RunSettings("quick", alone, only=["b"], show_progress=False))
    assert read(both)["experiments"]["b"]["draws"] == read(alone)["experiments"]["b"]["draws"]
    assert read(both)["experiments"]["a"]["draws"] != read(both)["experiments"]["b"]["draws"]
    with pytest.raises(ValueError, match="only names unknown experiments \\['c'\\]"):
        run(exps, RunSettings("quick", alone, only=["c"]))


def test_results_are_written_after_each_experiment(tmp_path) -> None:
    steps: list[int] = []
    exps = [noise_experiment("a"), stepping_experiment("s", steps, fail_at=2)]
    with pytest.raises(KeyboardInterrupt):
        run(exps, RunSettings("quick", tmp_path, show_progress=False))
    results = read(tmp_path)
    assert list(results["experiments"]) == ["a"]
    assert [c["id"] for c in results["claims"]] == ["a_small"]


def test_resume_skips_finished_experiments_and_continues_the_unfinished_one(tmp_path) -> None:
    calls: list[str] = []
    steps: list[int] = []
    exps = [noise_experiment("a", calls), stepping_experiment("s", steps, fail_at=2)]
    with pytest.raises(KeyboardInterrupt):
        run(exps, RunSettings("quick", tmp_path, show_progress=False))
    first = read(tmp_path)
    run(exps, RunSettings("quick", tmp_path, resume=True, show_progress=False))
    results = read(tmp_path)
    assert calls == ["a"]  # not run again
    assert steps == [1, 2, -1, 3, 4]  # continued from its checkpoint at step 2
    assert results["experiments"]["a"] == first["experiments"]["a"]
    assert results["experiments"]["s"]["step"] == 4
    assert [c["id"] for c in results["claims"]] == ["a_small", "s_done"]
    assert "resumed" in results["environment"]["time"]


def test_without_resume_old_checkpoints_are_removed(tmp_path) -> None:
    steps: list[int] = []
    save_checkpoint(tmp_path / "checkpoints" / "s" / "state.pt", {"step": 3})
    run([stepping_experiment("s", steps)], RunSettings("quick", tmp_path, show_progress=False))
    assert steps == [1, 2, 3, 4]


def test_resume_refuses_other_settings(tmp_path) -> None:
    run([noise_experiment("a")], RunSettings("quick", tmp_path, show_progress=False))
    with pytest.raises(ValueError, match="resume must use the settings of the interrupted run"):
        run(
            [noise_experiment("a")],
            RunSettings("default", tmp_path, resume=True, show_progress=False),
        )


def test_claims_must_match_the_declared_ids(tmp_path) -> None:
    def undeclared(ctx: Context) -> ExperimentResult:
        ctx.claim("other", "x", True, {})
        return ExperimentResult({})

    def silent(ctx: Context) -> ExperimentResult:
        return ExperimentResult({})

    with pytest.raises(ValueError, match="claim id 'other' is not declared by experiment 'u'"):
        run([Experiment("u", "u", ("mine",), TINY, undeclared)], RunSettings("quick", tmp_path))
    with pytest.raises(ExperimentError, match="declares claims \\['mine'\\] but decided \\[\\]"):
        run([Experiment("s", "s", ("mine",), TINY, silent)], RunSettings("quick", tmp_path))


def test_results_json_is_strict_json(tmp_path) -> None:
    def odd(ctx: Context) -> ExperimentResult:
        ctx.claim("c", "x", np.bool_(True), {"v": np.float32(1.5), "t": torch.tensor([1, 2])})
        return ExperimentResult({"inf": float("inf"), "arr": np.arange(3)})

    run(
        [Experiment("o", "o", ("c",), TINY, odd)],
        RunSettings("quick", tmp_path, show_progress=False),
    )
    text = (tmp_path / "results.json").read_text()
    results = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert results["claims"][0]["evidence"] == {"v": 1.5, "t": [1, 2]}
    assert results["experiments"]["o"]["inf"] is None
    assert results["experiments"]["o"]["arr"] == [0, 1, 2]


def test_every_scale_has_every_config() -> None:
    for table in (C.DATA, C.GAN_TRAINING):
        assert set(table) == set(C.SCALES)
        assert all(dataclasses.is_dataclass(cfg) for cfg in table.values())


def test_cli_reproduce_reports_bad_arguments(tmp_path) -> None:
    from typer.testing import CliRunner

    from checkerscope.cli import app

    result = CliRunner().invoke(app, ["reproduce", "--only", "nope", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "only names unknown experiments ['nope']" in result.output
    result = CliRunner().invoke(app, ["reproduce", "--scale", "huge", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "scale must be one of" in result.output
    result = CliRunner().invoke(app, ["reproduce", "--override", "{bad", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "override must be JSON like" in result.output
    result = CliRunner().invoke(app, ["reproduce", "--override", "[1]", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "override must map experiment ids to" in result.output


def test_cli_reproduce_resolves_its_options_into_one_settings_object(tmp_path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from checkerscope import experiments
    from checkerscope.cli import app

    seen: list[RunSettings] = []

    def run(settings: RunSettings) -> dict:
        seen.append(settings)
        raise ValueError("stop here")

    monkeypatch.setattr(experiments, "run", run)
    override = '{"style_transfer": {"steps": 3}, "gan_training": {"seeds": 1}}'
    args = ["reproduce", "--scale", "quick", "--out", str(tmp_path), "--only", "a,b"]
    args += ["--override", override, "--vgg-weights", "vgg.pt", "--no-progress", "--seed", "7"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "stop here" in result.output
    assert seen == [
        RunSettings(
            "quick",
            tmp_path,
            only=("a", "b"),
            seed=7,
            show_progress=False,
            overrides={
                "style_transfer": {"steps": 3, "vgg_weights": "vgg.pt"},
                "gan_training": {"seeds": 1},
            },
        )
    ]


def test_scalars_go_to_tensorboard_when_it_is_installed(tmp_path, monkeypatch) -> None:
    from checkerscope.experiments import runner

    logged = []

    class Writer:
        def add_scalar(self, tag: str, value: float, step: int) -> None:
            logged.append((tag, value, step))

        def close(self) -> None:
            logged.append("closed")

    def go(ctx: Context) -> ExperimentResult:
        ctx.log_scalar("loss", 0.5, 3)
        ctx.claim("c", "x", True, {})
        return ExperimentResult({})

    monkeypatch.setattr(runner, "tensorboard_writer", lambda logdir: Writer())
    run(
        [Experiment("t", "t", ("c",), TINY, go)],
        RunSettings("quick", tmp_path, show_progress=False),
    )
    assert logged == [("t/loss", 0.5, 3), "closed"]
