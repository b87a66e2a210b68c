"""Worker processes for per-seed work (experiments/parallel.py): same numbers for any jobs."""

from __future__ import annotations

import os

import pytest
import torch

from checkerscope.experiments import parallel


def train_a_little(seed: int) -> dict:
    """A task whose numbers depend on the global random state and on float reductions."""
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Conv2d(8, 1, 3))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    x = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(seed))
    for _ in range(3):
        loss = net(x).square().mean() + torch.rand(()) * 0  # the global RNG, seeded per task
        opt.zero_grad()
        loss.backward()
        opt.step()
    return {
        "seed": seed,
        "threads": torch.get_num_threads(),
        "pid": os.getpid(),
        "loss": float(loss.detach()),
        "noise": float(torch.rand(())),
        "weight": net[0].weight.detach(),
    }


def run(jobs: int) -> list[dict]:
    done = list(parallel.imap(train_a_little, [3, 1, 4, 1, 5], jobs=jobs, seed=9))
    return [d.result for d in sorted(done, key=lambda d: d.index)]


def test_results_do_not_depend_on_jobs_or_the_callers_threads() -> None:
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        alone = run(jobs=1)
        assert torch.get_num_threads() == 2  # restored after running in this process
        spread = run(jobs=2)
    finally:
        torch.set_num_threads(before)
    assert [r["threads"] for r in alone + spread] == [parallel.THREADS_PER_TASK] * 10
    assert {r["pid"] for r in alone} == {os.getpid()}
    assert os.getpid() not in {r["pid"] for r in spread}
    for a, b in zip(alone, spread, strict=True):
        assert a["loss"] == b["loss"] and a["noise"] == b["noise"]
        assert torch.equal(a["weight"], b["weight"])
    # Tasks 1 and 3 share an item but not their index: their global random states differ.
    assert alone[1]["noise"] != alone[3]["noise"]


def fails(x: int) -> int:
    if x == 2:
        raise ValueError(f"x must not be 2, got {x}")
    return x


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_task_s_error_reaches_the_caller(jobs: int) -> None:
    with pytest.raises(ValueError, match="x must not be 2, got 2"):
        list(parallel.imap(fails, [1, 2, 3], jobs=jobs, seed=0))


def nested(x: int) -> tuple[bool, list[int]]:
    inner = [d.result for d in parallel.imap(lambda y: y * x, [1, 2], jobs=2, seed=0)]
    return parallel.in_worker(), sorted(inner)


def test_closures_travel_and_nested_maps_run_inside_the_worker() -> None:
    offset = torch.tensor(5.0)
    done = parallel.imap(lambda x: float(offset + x), [1, 2, 3], jobs=2, seed=0)
    assert sorted(d.result for d in done) == [6.0, 7.0, 8.0]
    results = [d.result for d in parallel.imap(nested, [3, 4], jobs=2, seed=0)]
    assert sorted(results) == [(True, [3, 6]), (True, [4, 8])]
    assert parallel.in_worker() is False


def test_free_cores_and_bad_jobs() -> None:
    assert 1 <= parallel.free_cores(0.05) <= parallel.cpu_count()
    with pytest.raises(ValueError, match="jobs must be a positive integer, got 0"):
        list(parallel.imap(fails, [1], jobs=0, seed=0))
