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
