from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from checkerscope.experiments import distributed

HERE = Path(__file__).parent


def torchrun(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node"]
    return subprocess.run(
        [*command, "2", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=240
    )


def test_single_process_set_up_does_nothing() -> None:
    d = distributed.setup("cpu")
    assert (d.rank, d.world_size, d.is_main, d.enabled) == (0, 1, True, False)
    x = torch.arange(6.0)
    assert d.mean(x) is x and d.shard(x) is x
    model = torch.nn.Linear(2, 2)
    assert d.wrap(model) is model
    with pytest.raises(ValueError, match="device must be one of 'cpu', 'cuda', got 'tpu'"):
        distributed.setup("tpu")


def test_shard_splits_a_global_batch_in_rank_order() -> None:
    batch = torch.arange(8)
    parts = [distributed.Dist(rank=r, world_size=4).shard(batch) for r in range(4)]
    assert torch.equal(torch.cat(parts), batch)
    with pytest.raises(ValueError, match="batch size 8 must be divisible by the number of proc"):
        distributed.Dist(rank=0, world_size=3).shard(batch)


@pytest.mark.slow
def test_two_gloo_processes_train_like_one(tmp_path) -> None:
    """DDP over two CPU processes: the ranks end identical, and equal to one process up to
    rounding, since each takes half of the same global batch and gradients are averaged."""
    ddp, single = tmp_path / "ddp", tmp_path / "single"
    ddp.mkdir()
    single.mkdir()
    done = torchrun(str(HERE / "tiny_gan.py"), str(ddp), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK")}
    alone = subprocess.run(
        [sys.executable, str(HERE / "tiny_gan.py"), str(single)], env=env, capture_output=True
    )
    assert alone.returncode == 0, alone.stderr[-3000:]

    g0, g1 = (torch.load(ddp / f"G_{r}.pt", weights_only=True) for r in (0, 1))
    g = torch.load(single / "G_0.pt", weights_only=True)
    assert all(torch.equal(g0[k], g1[k]) for k in g0)
    assert all(torch.allclose(g0[k], g[k], rtol=1e-4, atol=1e-5) for k in g)
    h0, h1 = (json.loads((ddp / f"history_{r}.json").read_text()) for r in (0, 1))
    h = json.loads((single / "history_0.json").read_text())
    assert h0 == h1 and h0["step"] == h["step"]
    assert h0["loss_d"] == pytest.approx(h["loss_d"], rel=1e-4)


@pytest.mark.slow
def test_reproduce_under_torchrun_writes_results_once_from_rank_zero(tmp_path) -> None:
    tiny = {
        "steps": 4, "eval_every": 2, "checkpoint_every": 2, "batch_size": 8, "n_train": 32,
        "n_eval": 16, "kid_subsets": 2, "kid_subset_size": 8, "ngf": 4, "ndf": 4, "nz": 8,
    }  # fmt: skip
    out = tmp_path / "out"
    args = ["-m", "checkerscope", "reproduce", "--scale", "quick", "--only", "gan_training"]
    args += ["--out", str(out), "--no-progress", "--override", json.dumps({"gan_training": tiny})]
    done = torchrun(*args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("claims hold") == 1  # rank 0 alone reports
    results = json.loads((out / "results.json").read_text())
    assert results["environment"]["world_size"] == 2
    assert results["experiments"]["gan_training"]["config"]["steps"] == 4
    assert sorted(p.name for p in out.glob("*.png")) == [
        "gan_training_curves.png",
        "gan_training_quality.png",
        "gan_training_samples.png",
    ]
    assert [c["id"] for c in results["claims"]] == ["gan_training"]
