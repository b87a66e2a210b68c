from __future__ import annotations

import os
import pickle
import random

import numpy as np
import pytest
import torch

from checkerscope.experiments import checkpoint as ckpt


def draws() -> tuple[list[float], list[float], list[float]]:
    return (
        torch.rand(5).tolist(),
        [float(np.random.rand()) for _ in range(3)] + [float(np.random.randn())],
        [random.random() for _ in range(3)] + [random.gauss(0, 1)],
    )


def test_round_trip_of_nested_state(tmp_path) -> None:
    state = {
        "step": 7,
        "model": torch.nn.Linear(3, 2).state_dict(),
        "history": {"loss": [1.0, 0.5], "name": "x"},
        "stream": torch.Generator().manual_seed(3).get_state(),
    }
    ckpt.save_checkpoint(tmp_path / "c.pt", state)
    loaded = ckpt.load_checkpoint(tmp_path / "c.pt")
    assert loaded["step"] == 7 and loaded["history"] == state["history"]
    assert all(torch.equal(loaded["model"][k], state["model"][k]) for k in state["model"])
    assert torch.equal(loaded["stream"], state["stream"])


def test_rng_state_survives_a_checkpoint(tmp_path) -> None:
    torch.manual_seed(1)
    np.random.seed(2)
    random.seed(3)
    np.random.randn()  # leaves a cached Gaussian in numpy's state
    ckpt.save_checkpoint(tmp_path / "r.pt", {"rng": ckpt.rng_state()})
    expected = draws()
    draws()
    ckpt.set_rng_state(ckpt.load_checkpoint(tmp_path / "r.pt")["rng"])
    assert draws() == expected


def test_an_interrupted_write_leaves_the_old_checkpoint(tmp_path, monkeypatch) -> None:
    path = tmp_path / "last.pt"
    ckpt.save_checkpoint(path, {"step": 1})
    before = path.read_bytes()

    def crash(src: str, dst: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        ckpt.save_checkpoint(path, {"step": 2, "w": torch.zeros(1000)})
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]  # no temporary left over


def test_loading_never_runs_code(tmp_path) -> None:
    class Payload:
        def __reduce__(self):  # what a malicious pickle would do
            return (os.system, ("true",))

    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps(Payload(), protocol=2))
    with pytest.raises(pickle.UnpicklingError):
        ckpt.load_checkpoint(path)
