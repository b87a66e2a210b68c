from __future__ import annotations

import pytest
import torch
from PIL import Image

from checkerscope.experiments import config as C
from checkerscope.experiments.feature_vis import (
    CLAIM,
    EXPERIMENT,
    activations,
    train_classifier,
    visualize,
)
from checkerscope.models import StridedClassifier

from .helpers import assert_resumes_exactly, only_claim, run_quick

TINY = {
    "steps": 4, "checkpoint_every": 2, "n_per_image": 4, "n_test_per_image": 2, "width": 4,
    "channels": 3, "vis_size": 32, "vis_steps": 3, "seeds": 3,
}  # fmt: skip


def test_classifier_training_resumes_exactly(tmp_path) -> None:
    cfg = C.for_scale(C.FEATURE_VIS, "quick", {"steps": 6, "checkpoint_every": 2, "width": 4})
    x, y = torch.rand(16, 3, 32, 32) * 2 - 1, torch.arange(16) % 3

    def model() -> StridedClassifier:
        torch.manual_seed(0)
        return StridedClassifier(3, 3, cfg.width, cfg.stages)

    full = assert_resumes_exactly(
        model,
        lambda net, **kw: train_classifier(net, x, y, cfg, seed=1, **kw),
        tmp_path,
        stop_at=4,
    )
    assert len(full) == 6


def test_visualization_raises_its_channel_and_jitter_changes_the_result() -> None:
    torch.manual_seed(0)
    model = StridedClassifier(3, 3, 4, 2).eval()
    x0 = 0.5 + 0.01 * torch.randn(2, 3, 16, 16)
    plain = visualize(model, [0, 1], x0, 5, 0.05, 0, seed=0)
    jittered = visualize(model, [0, 1], x0, 5, 0.05, 2, seed=0)
    with torch.no_grad():
        before = activations(model, x0)[[0, 1], [0, 1]].mean(dim=(1, 2))
        after = activations(model, plain)[[0, 1], [0, 1]].mean(dim=(1, 2))
    assert (after > before).all()
    assert not torch.equal(plain, jittered)
    assert all(not p.requires_grad or p.grad is None for p in model.parameters())


def test_quick_run_decides_the_claim_and_writes_figures(tmp_path) -> None:
    results = run_quick(EXPERIMENT, tmp_path, TINY)
    evidence = only_claim(results, CLAIM.id)
    means = evidence["score_mean_db_per_seed"]
    assert set(means) == {"plain", "jitter", "antialiased"}
    assert evidence["per_seed"]["values"] == pytest.approx(
        [
            min(p - j, p - a)
            for p, j, a in zip(means["plain"], means["jitter"], means["antialiased"], strict=True)
        ]
    )
    assert len(evidence["test_accuracy_per_seed"]) == 3
    numbers = results["experiments"]["feature_vis"]
    assert numbers["classes"] >= 2 and len(numbers["score_db"]) == 3
    assert all(len(s) == 3 for seed in numbers["score_db"] for s in seed.values())
    (name,) = numbers["figures"]
    assert Image.open(tmp_path / name).size[0] > 100
    seeds = results["experiments"]["feature_vis"]["seeds"]
    assert (tmp_path / "checkpoints" / "feature_vis" / f"antialiased_seed{seeds[0]}.pt").exists()
