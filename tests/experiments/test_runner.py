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
from checkerscope.experiments.decision import Claim, Effect, EverySeed, Exact, MeanInterval
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
BELOW_10 = Effect("10 - draw", "")


def exact(id: str) -> Claim:
    return Claim(id, "Counted.", Effect("count", ""), Exact())


def noise_experiment(id: str, calls: list[str] | None = None) -> Experiment:
    """Draws ``n`` numbers from the global torch RNG (one per seed) and claims they are below
    10 in every seed."""

    def go(ctx: Context) -> ExperimentResult:
        if calls is not None:
            calls.append(id)
        with ctx.progress(ctx.config.n, "drawing") as bar:
            draws = []
            for _ in ctx.seeds(ctx.config.n):
                draws.append(float(torch.randn(())))
                bar.advance()
        ctx.decide(f"{id}_small", per_seed=[10 - d for d in draws], evidence={"draws": draws})
        fig = Figure()
        fig.subplots().plot(draws)
        return ExperimentResult(
            {"draws": draws, "nan": float("nan")}, {"draws": fig}, {"draws": "The draws."}
        )

    claim = Claim(f"{id}_small", "The draws are below 10.", BELOW_10, EverySeed())
    return Experiment(id, f"noise {id}", (claim,), TINY, go)


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
        ctx.decide(f"{id}_done", checks={"counted to the end": True}, effect=step)
        return ExperimentResult({"step": step})

    return Experiment(id, "stepping", (exact(f"{id}_done"),), TINY, go)


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
    assert claim["holds"] is True and set(claim) == {
        "id", "experiment", "statement", "effect", "rule", "guards", "min_seeds", "holds",
        "evidence",
    }  # fmt: skip
    assert claim["rule"]["text"] == "the 10 - draw is above 0 in every seed"
    a = results["experiments"]["a"]
    assert len(a["draws"]) == 3 and a["nan"] is None
    assert a["config"] == {"n": 3, "steps": 4} and a["seconds"] >= 0 and a["cpu_seconds"] >= 0
    assert a["figures"] == ["a_draws.png"] and a["captions"] == {"draws": "The draws."}
    assert a["seeds"] == [a["seed"] + 1000 * k for k in range(3)]
    assert claim["evidence"]["per_seed"]["seeds"] == a["seeds"]
    assert Image.open(tmp_path / "a_draws.png").size[0] > 10
    env = results["environment"]
    assert env["scale"] == "quick" and env["device"] == "cpu" and env["data"] == "embedded"
    assert env["versions"]["torch"] == torch.__version__
    assert env["seeds"]["experiments"]["a"] == experiment_seed(0, "a") == a["seed"]
    assert env["jobs"] == 1 and env["threads"]["torch_per_task"] == 1
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


def test_a_shared_config_has_the_run_overrides_in_every_experiment(tmp_path) -> None:
    def go(ctx: Context) -> ExperimentResult:
        ctx.decide(f"{ctx.experiment.id}_small", per_seed=[1.0, 2.0, 3.0])
        cfg = ctx.shared_config("classifier")
        return ExperimentResult({"steps": cfg.steps, "base_seed": ctx.settings.seed})

    def experiment(id: str) -> Experiment:
        claim = Claim(f"{id}_small", "Small.", BELOW_10, EverySeed())
        return Experiment(id, id, (claim,), TINY, go)

    shared = {"classifier": {"steps": 7}}
    run(
        [experiment("a"), experiment("b")],
        RunSettings("quick", tmp_path, seed=3, show_progress=False, overrides=shared),
    )
    numbers = read(tmp_path)["experiments"]
    assert numbers["a"]["steps"] == numbers["b"]["steps"] == 7
    assert numbers["a"]["base_seed"] == 3
    with pytest.raises(ValueError, match=r"unknown experiments \['c'\]; .* shared artifacts"):
        run([experiment("a")], RunSettings("quick", tmp_path, overrides={"c": {"n": 1}}))


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
    # Both claims were declared before the run; only the finished one is decided.
    assert [(c["id"], c["holds"]) for c in results["claims"]] == [
        ("a_small", True),
        ("s_done", None),
    ]


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
        ctx.decide("other", checks={"x": True}, effect=1.0)
        return ExperimentResult({})

    def silent(ctx: Context) -> ExperimentResult:
        return ExperimentResult({})

    mine = (exact("mine"),)
    with pytest.raises(ValueError, match="claim id 'other' is not declared by experiment 'u'"):
        run([Experiment("u", "u", mine, TINY, undeclared)], RunSettings("quick", tmp_path))
    with pytest.raises(ExperimentError, match="declares claims \\['mine'\\] but decided \\[\\]"):
        run([Experiment("s", "s", mine, TINY, silent)], RunSettings("quick", tmp_path))


def test_results_json_is_strict_json(tmp_path) -> None:
    def odd(ctx: Context) -> ExperimentResult:
        ctx.decide(
            "c",
            checks={"x": np.bool_(True)},
            effect=np.float32(2.0),
            evidence={"v": np.float32(1.5), "t": torch.tensor([1, 2])},
        )
        return ExperimentResult({"inf": float("inf"), "arr": np.arange(3)})

    run(
        [Experiment("o", "o", (exact("c"),), TINY, odd)],
        RunSettings("quick", tmp_path, show_progress=False),
    )
    text = (tmp_path / "results.json").read_text()
    results = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    evidence = results["claims"][0]["evidence"]
    assert evidence["v"] == 1.5 and evidence["t"] == [1, 2] and evidence["checks"] == {"x": True}
    assert results["claims"][0]["holds"] is True and evidence["effect_size"] == 2.0
    assert results["experiments"]["o"]["inf"] is None
    assert results["experiments"]["o"]["arr"] == [0, 1, 2]


def test_every_figure_needs_a_caption(tmp_path) -> None:
    def bare(ctx: Context) -> ExperimentResult:
        ctx.decide("c", checks={"x": True}, effect=1.0)
        return ExperimentResult({}, {"plot": Figure()})

    with pytest.raises(ExperimentError, match="figures without a caption: \\['plot'\\]"):
        run([Experiment("f", "f", (exact("c"),), TINY, bare)], RunSettings("quick", tmp_path))


def test_experiments_cannot_decide_for_the_rule(tmp_path) -> None:
    def sneaky(ctx: Context) -> ExperimentResult:
        ctx.decide("c", checks={"x": True}, effect=1.0, evidence={"rule": "mine"})
        return ExperimentResult({})

    with pytest.raises(ValueError, match="uses the runner's keys \\['rule'\\]"):
        run([Experiment("r", "r", (exact("c"),), TINY, sneaky)], RunSettings("quick", tmp_path))


def test_claims_are_declared_in_results_json_before_any_experiment_runs(tmp_path) -> None:
    seen: list[list[dict]] = []

    def peek(ctx: Context) -> ExperimentResult:
        seen.append(read(tmp_path)["claims"])
        ctx.decide("c", checks={"x": True}, effect=1.0)
        return ExperimentResult({})

    exps = [Experiment("p", "p", (exact("c"),), TINY, peek), noise_experiment("a")]
    run(exps, RunSettings("quick", tmp_path, show_progress=False))
    (before,) = seen
    assert [(c["id"], c["holds"]) for c in before] == [("c", None), ("a_small", None)]
    assert before[1]["rule"]["kind"] == "every_seed" and before[1]["min_seeds"] == 3


def test_resume_refuses_a_claim_declared_differently(tmp_path) -> None:
    steps: list[int] = []
    exps = [noise_experiment("a"), stepping_experiment("s", steps, fail_at=2)]
    with pytest.raises(KeyboardInterrupt):
        run(exps, RunSettings("quick", tmp_path, show_progress=False))
    changed = dataclasses.replace(
        noise_experiment("a"),
        claims=(Claim("a_small", "The draws are below 10.", BELOW_10, MeanInterval()),),
    )
    with pytest.raises(ValueError, match="resume must declare claim 'a_small' as the interrupted"):
        run([changed, exps[1]], RunSettings("quick", tmp_path, resume=True, show_progress=False))


def test_too_few_seeds_do_not_hold(tmp_path) -> None:
    run(
        [noise_experiment("a")],
        RunSettings("quick", tmp_path, show_progress=False, overrides={"a": {"n": 2}}),
    )
    (claim,) = read(tmp_path)["claims"]
    assert claim["holds"] is False and "2 seeds, but the rule needs at least 3" in str(claim)


def mapping_experiment(builds: Path) -> Experiment:
    """Trains a tiny network per seed in ``ctx.map`` and shares one cached artifact."""

    def go(ctx: Context) -> ExperimentResult:
        def build(workdir: Path) -> dict:
            with open(builds, "a") as f:
                f.write("x")
            return {"w": torch.randn(4, generator=torch.Generator().manual_seed(1))}

        def one(seed: int) -> float:
            shared = ctx.cached("shared", {"seed": 1}, build)["w"]
            net = torch.nn.Linear(4, 1)
            x = torch.randn(16, 4, generator=torch.Generator().manual_seed(seed)) + shared
            opt = torch.optim.SGD(net.parameters(), lr=0.1)
            for _ in range(5):
                loss = net(x).square().mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
            return float(loss.detach()) + float(torch.rand(()))

        values = ctx.map(one, ctx.seeds(ctx.config.n), "seeds")
        ctx.decide("m", per_seed=values)
        return ExperimentResult({"values": values})

    claim = Claim("m", "Positive.", Effect("loss", ""), EverySeed())
    return Experiment("m", "mapping", (claim,), TINY, go)


def test_results_depend_on_neither_jobs_nor_threads_and_artifacts_are_shared(tmp_path) -> None:
    outs = []
    threads = torch.get_num_threads()
    try:
        for jobs, torch_threads in ((1, 1), (2, 2), (3, 1)):
            torch.set_num_threads(torch_threads)
            out = tmp_path / f"jobs{jobs}"
            builds = tmp_path / f"builds{jobs}.txt"
            run(
                [mapping_experiment(builds)],
                RunSettings("quick", out, jobs=jobs, show_progress=False),
            )
            assert builds.read_text() == "x"  # built once, by whichever task asked first
            assert torch.get_num_threads() == torch_threads  # restored after the run
            results = read(out)
            assert results["environment"]["jobs"] == jobs
            outs.append((results["claims"], results["experiments"]["m"]["values"]))
    finally:
        torch.set_num_threads(threads)
    assert outs[0] == outs[1] == outs[2]


def test_every_registered_experiment_has_a_budget_and_they_fit_the_totals() -> None:
    from checkerscope.experiments import registered

    experiments = registered()
    assert set(C.SHARED) <= set(C.BUDGETS)  # a shared artifact's budget counts too
    for scale, total in C.TOTAL_BUDGETS.items():
        budgets = [e.budget[scale] for e in experiments] + [C.BUDGETS[s][scale] for s in C.SHARED]
        assert all(b > 0 for b in budgets)
        assert sum(budgets) + C.OVERHEAD_SECONDS[scale] <= total, scale
    assert all(e.budget == C.BUDGETS[e.id] for e in experiments)


def test_every_scale_has_every_config() -> None:
    for table in (C.DATA, C.GAN_TRAINING, *C.SHARED.values()):
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
    result = CliRunner().invoke(app, [*args, "--jobs", "3"])
    assert result.exit_code == 2 and "stop here" in result.output
    # Without --jobs: the idle cores, measured when the run starts.
    monkeypatch.setattr("checkerscope.experiments.parallel.free_cores", lambda: 5)
    CliRunner().invoke(app, args)
    assert [s.jobs for s in seen] == [3, 5]
    assert seen[:1] == [
        RunSettings(
            "quick",
            tmp_path,
            only=("a", "b"),
            seed=7,
            jobs=3,
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
        ctx.map(lambda x: ctx.log_scalar("in a worker", x, 0), [1.0, 2.0])  # logs nothing
        ctx.decide("c", checks={"x": True}, effect=1.0)
        return ExperimentResult({})

    monkeypatch.setattr(runner, "tensorboard_writer", lambda logdir: Writer())
    run(
        [Experiment("t", "t", (exact("c"),), TINY, go)],
        RunSettings("quick", tmp_path, jobs=2, show_progress=False),
    )
    assert logged == [("t/loss", 0.5, 3), "closed"]


def test_cpu_seconds_count_the_workers_too(tmp_path) -> None:
    import time

    def burn(_: int) -> float:
        start = time.process_time()
        while time.process_time() - start < 0.3:
            pass
        return time.process_time() - start

    def go(ctx: Context) -> ExperimentResult:
        burnt = ctx.map(burn, [0, 1, 2])
        ctx.decide("c", checks={"burnt": True}, effect=sum(burnt))
        return ExperimentResult({})

    run(
        [Experiment("b", "b", (exact("c"),), TINY, go)],
        RunSettings("quick", tmp_path, jobs=2, show_progress=False),
    )
    entry = read(tmp_path)["experiments"]["b"]
    assert entry["cpu_seconds"] >= 0.85  # three tasks of 0.3 s CPU, all in worker processes
