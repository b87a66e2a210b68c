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
    with pytest.raises(ValueError, match="no checksum header"):  # refused before unpickling
        ckpt.load_checkpoint(path)
    path.write_bytes(ckpt.with_checksum(pickle.dumps(Payload(), protocol=2)))
    with pytest.raises(pickle.UnpicklingError):
        ckpt.load_checkpoint(path)


def test_save_and_resume_training_continue_a_loop_exactly(tmp_path) -> None:
    def fresh() -> tuple[torch.nn.Module, torch.optim.Optimizer, torch.Generator]:
        torch.manual_seed(0)
        net = torch.nn.Linear(3, 1)
        return net, torch.optim.Adam(net.parameters(), lr=0.1), torch.Generator().manual_seed(1)

    def steps(net, opt, stream, n: int) -> list[float]:
        losses = []
        for _ in range(n):
            x = torch.randn(4, 3, generator=stream) + torch.rand(1)  # both streams drawn
            loss = net(x).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        return losses

    net, opt, stream = fresh()
    whole = steps(net, opt, stream, 4)

    config, path = {"lr": 0.1}, tmp_path / "t.pt"
    cut, cut_opt, cut_stream = fresh()
    first = steps(cut, cut_opt, cut_stream, 2)
    ckpt.save_training(path, config, {"net": cut, "opt": cut_opt}, {"s": cut_stream}, step=2)
    resumed, resumed_opt, resumed_stream = fresh()
    resumed.reset_parameters()  # other weights and global random state: the checkpoint restores
    modules, streams = {"net": resumed, "opt": resumed_opt}, {"s": resumed_stream}
    assert ckpt.resume_training(path, config, modules, streams) == {"step": 2}
    assert first + steps(resumed, resumed_opt, resumed_stream, 2) == whole
    assert torch.equal(resumed.weight, net.weight) and torch.equal(resumed.bias, net.bias)

    assert ckpt.resume_training(tmp_path / "none.pt", config, modules, streams) is None
    with pytest.raises(ValueError, match=r"another configuration .*run without --resume"):
        ckpt.resume_training(path, {"lr": 0.2}, modules, streams)
