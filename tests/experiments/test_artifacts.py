"""Shared artifacts of a run (experiments/artifacts.py): built once, reused, checked."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from checkerscope.experiments import parallel
from checkerscope.experiments.artifacts import ArtifactCache


def test_an_artifact_is_built_once_and_loaded_bit_for_bit(tmp_path: Path) -> None:
    cache = ArtifactCache(tmp_path / "cache")
    built: list[Path] = []

    def build(workdir: Path) -> dict:
        built.append(workdir)
        assert workdir.is_dir()
        torch.manual_seed(0)
        return {"state": torch.nn.Linear(3, 2).state_dict(), "accuracy": 0.75}

    first = cache.get("net", {"steps": 3}, build)
    again = ArtifactCache(tmp_path / "cache").get("net", {"steps": 3}, build)
    assert len(built) == 1 and not built[0].exists()  # the work folder goes once saved
    assert again["accuracy"] == 0.75
    assert all(torch.equal(first["state"][k], again["state"][k]) for k in first["state"])
    cache.get("net", {"steps": 4}, build)  # another key is another artifact
    assert len(built) == 2


def test_workers_asking_at_once_build_one_artifact(tmp_path: Path) -> None:
    cache = ArtifactCache(tmp_path)

    def build(workdir: Path) -> dict:
        with open(tmp_path / "builds.txt", "a") as f:
            f.write("built\n")
        return {"x": torch.arange(3)}

    done = parallel.imap(lambda _: cache.get("shared", {"k": 1}, build)["x"], range(4), 2, 0)
    assert all(torch.equal(d.result, torch.arange(3)) for d in done)
    assert (tmp_path / "builds.txt").read_text() == "built\n"


def test_a_stored_artifact_of_another_key_is_refused(tmp_path: Path) -> None:
    cache = ArtifactCache(tmp_path)
    cache.get("a", {"k": 1}, lambda w: {"x": 1})
    path = cache.path("a", {"k": 1})
    path.rename(cache.path("a", {"k": 2}))  # as if the key were changed behind its back
    with pytest.raises(ValueError, match=r"was built for .*run without --resume"):
        cache.get("a", {"k": 2}, lambda w: {"x": 2})
    with pytest.raises(ValueError, match="name must be letters, digits"):
        cache.path("../x", {})
    cache.clear()
    assert not tmp_path.exists()


class Together:
    """A stand-in for one process of a torchrun group (its barriers only count)."""

    enabled = True

    def __init__(self, rank: int) -> None:
        self.rank, self.barriers = rank, 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        self.barriers += 1


def test_under_torchrun_every_process_builds_without_the_lock_and_rank_zero_saves(
    tmp_path: Path,
) -> None:
    cache = ArtifactCache(tmp_path)
    built: list[int] = []

    def build(rank: int):
        def run(workdir: Path) -> dict:
            assert workdir.is_dir()
            built.append(rank)
            return {"x": torch.arange(2)}

        return run

    other = Together(1)
    assert torch.equal(cache.get("a", {"k": 1}, build(1), other)["x"], torch.arange(2))
    assert not cache.path("a", {"k": 1}).exists()  # only rank 0 writes
    assert not cache.path("a", {"k": 1}).with_suffix(".lock").exists()  # no lock taken
    main = Together(0)
    cache.get("a", {"k": 1}, build(0), main)
    assert cache.path("a", {"k": 1}).exists() and built == [1, 0]
    assert not cache.path("a", {"k": 1}).with_suffix(".work").exists()
    again = cache.get("a", {"k": 1}, build(0), Together(0))  # found: loaded by every rank
    assert torch.equal(again["x"], torch.arange(2)) and built == [1, 0]
    assert main.barriers == other.barriers == 3
