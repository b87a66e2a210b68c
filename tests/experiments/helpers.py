"""Helpers the experiment tests share: a quick run read back from disk, the claim checks every
experiment must pass, and a progress bar that interrupts training for the resume tests."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from checkerscope.experiments.checkpoint import load_checkpoint
from checkerscope.experiments.runner import Experiment, run
from checkerscope.experiments.settings import RunSettings


class Stop(Exception):
    pass


class StopAt:
    """A progress bar that interrupts training once it has counted ``n`` steps."""

    def __init__(self, n: int) -> None:
        self.n, self.count = n, 0

    def advance(self, k: float = 1) -> None:
        self.count += int(k)
        if self.count >= self.n:
            raise Stop


def assert_resumes_exactly(
    make: Callable[[], nn.Module],
    train: Callable[..., list[float]],
    folder: Path,
    stop_at: int,
) -> list[float]:
    """Train ``make()`` to the end, and another ``make()`` stopped after ``stop_at`` steps then
    resumed from its checkpoint; assert both give the same losses and weights; return the losses.

    ``train(net, checkpoint=path, bar=bar)`` trains ``net`` and returns its loss per step.
    """
    whole = make()
    full = train(whole, checkpoint=folder / "whole.pt")
    cut = make()
    with pytest.raises(Stop):
        train(cut, checkpoint=folder / "cut.pt", bar=StopAt(stop_at))
    assert load_checkpoint(folder / "cut.pt")["step"] == stop_at
    torch.manual_seed(99)  # the checkpoint restores every random state
    resumed = make()
    assert train(resumed, checkpoint=folder / "cut.pt") == full
    for k, v in whole.state_dict().items():
        assert torch.equal(resumed.state_dict()[k], v), k
    return full


def run_quick(
    experiment: Experiment,
    out: Path,
    overrides: Mapping[str, Any],
    shared: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict:
    """Run ``experiment`` alone at quick scale with ``overrides`` for its config (and
    ``shared``: artifact name -> overrides for its config); return the ``results.json`` it
    wrote, as a reader of the file sees it."""
    every = {experiment.id: overrides, **(shared or {})}
    run([experiment], RunSettings("quick", out, show_progress=False, overrides=every))
    return json.loads((out / "results.json").read_text())


def assert_effect_sizes(claims: Iterable[Mapping[str, Any]]) -> None:
    """Every claim's evidence names its effect size and gives it as a finite float."""
    for claim in claims:
        e = claim["evidence"]
        assert isinstance(e["effect_size"], float) and math.isfinite(e["effect_size"]), e
        assert e["effect_size_name"], e


def only_claim(results: Mapping[str, Any], claim_id: str) -> dict:
    """The evidence of the one claim in ``results``, checked to be ``claim_id``, decided, and
    with an effect size."""
    (claim,) = results["claims"]
    assert claim["id"] == claim_id and isinstance(claim["holds"], bool)
    assert_effect_sizes([claim])
    return claim["evidence"]
