from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from checkerscope.experiments.checkpoint import load_checkpoint
from checkerscope.experiments.distributed import Dist
from checkerscope.experiments.trained_gans import NonFiniteLoss, train_gan

from .helpers import only_claim
from .tiny_gan import tiny_config, tiny_data, tiny_evaluate, tiny_models


class Interrupt(Exception):
    pass


def train(path: Path, D: nn.Module | None = None, evaluate=tiny_evaluate, **changes):
    G, D0 = tiny_models()
    history = train_gan(
        G,
        D if D is not None else D0,
        tiny_data(),
        tiny_config(**changes),
        seed=5,
        checkpoint=path,
        dist=Dist(),
        evaluate=evaluate,
    )
    return G, history


def test_resuming_from_a_checkpoint_gives_the_uninterrupted_numbers(tmp_path) -> None:
    G_full, full = train(tmp_path / "full.pt")
    calls = []

    def interrupted_evaluate(G: nn.Module) -> dict[str, float]:
        calls.append(1)
        if len(calls) == 3:  # at step 9, after the checkpoint of step 6
            raise Interrupt
        return tiny_evaluate(G)

    with pytest.raises(Interrupt):
        train(tmp_path / "cut.pt", evaluate=interrupted_evaluate)
    assert load_checkpoint(tmp_path / "cut.pt")["step"] == 6
    torch.manual_seed(123)  # whatever happened in between, the checkpoint restores every state
    G_cut, resumed = train(tmp_path / "cut.pt")
    assert resumed == full
    assert all(torch.equal(G_cut.state_dict()[k], v) for k, v in G_full.state_dict().items())
    assert full["step"] == [3, 6, 9, 12] and all(math.isfinite(x) for x in full["loss_d"])


def test_a_finished_checkpoint_returns_its_history_without_training(tmp_path) -> None:
    _, full = train(tmp_path / "c.pt")
    before = (tmp_path / "c.pt").read_bytes()
    _, again = train(tmp_path / "c.pt", evaluate=lambda G: pytest.fail("trained again"))
    assert again == full and (tmp_path / "c.pt").read_bytes() == before


def test_a_checkpoint_of_another_configuration_is_refused(tmp_path) -> None:
    train(tmp_path / "c.pt")
    with pytest.raises(ValueError, match="was written with another configuration"):
        train(tmp_path / "c.pt", lr=1e-3)


class NaNAfter(nn.Module):
    """A discriminator whose output turns NaN after ``calls`` forward passes."""

    def __init__(self, inner: nn.Module, calls: int) -> None:
        super().__init__()
        self.inner, self.calls, self.n = inner, calls, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.n += 1
        out = self.inner(x)
        return out * float("nan") if self.n > self.calls else out


def test_a_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(
    tmp_path,
) -> None:
    path = tmp_path / "c.pt"
    _, D = tiny_models()
    # Three D passes per step: NaN from step 5 on; checkpoints every 2 steps.
    with pytest.raises(NonFiniteLoss) as error:
        train(path, D=NaNAfter(D, calls=12), checkpoint_every=2)
    message = str(error.value)
    assert "loss became non-finite at step 5" in message
    assert f"last good checkpoint {str(path)!r} (step 4) is kept" in message
    assert "Lower the learning rate" in message
    state = load_checkpoint(path)
    assert state["step"] == 4
    assert all(torch.isfinite(t).all() for t in state["G"].values())
    G_ref, _ = train(tmp_path / "ref.pt", steps=4, checkpoint_every=2)
    # The kept checkpoint is that of a clean 4-step run.
    assert all(torch.equal(state["G"][k], v) for k, v in G_ref.state_dict().items())


def test_a_huge_learning_rate_is_caught(tmp_path) -> None:
    with pytest.raises(NonFiniteLoss, match=r"non-finite at step \d+ .* no checkpoint had been"):
        train(tmp_path / "c.pt", lr=1e30, checkpoint_every=100, steps=200, eval_every=100)


QUICK_GAN = {"steps": 30, "eval_every": 10, "checkpoint_every": 10}


def reproduce(out: Path, *extra: str) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "checkerscope", "reproduce", "--scale", "quick",
        "--only", "gan_training", "--out", str(out), "--no-progress",
        "--override", json.dumps({"gan_training": QUICK_GAN}), *extra,
    ]  # fmt: skip
    # One thread: the same arithmetic in every run, and no spinning threads on a busy machine.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)


def finish(process: subprocess.Popen) -> None:
    try:
        code = process.wait(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
    assert code == 0, process.stdout.read().decode()


def numbers(out: Path) -> dict:
    results = json.loads((out / "results.json").read_text())
    for key in ("seconds", "cpu_seconds", "task_seconds"):
        del results["experiments"]["gan_training"][key]
    return {"claims": results["claims"], "gan": results["experiments"]["gan_training"]}


@pytest.mark.slow
def test_a_killed_quick_run_resumed_ends_with_the_uninterrupted_numbers(tmp_path) -> None:
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    finish(reproduce(whole))
    only_claim(numbers(whole), "gan_training")

    killed = reproduce(cut)
    # A GAN's training checkpoints in its cache entry's work folder until the GAN is saved.
    checkpoints, found = cut / "cache", []
    deadline = time.monotonic() + 300
    while killed.poll() is None and time.monotonic() < deadline:
        if found := sorted(checkpoints.glob("gan-*.work/train.pt")):
            break
        time.sleep(0.02)
    os.kill(killed.pid, signal.SIGKILL)
    assert killed.wait() == -signal.SIGKILL, "the run ended before it could be killed"
    assert found and load_checkpoint(found[0])["step"] < QUICK_GAN["steps"]
    results = json.loads((cut / "results.json").read_text())
    assert "gan_training" not in results["experiments"]

    finish(reproduce(cut, "--resume"))
    assert numbers(cut) == numbers(whole)
