from __future__ import annotations

import pytest
import torch
from PIL import Image

from checkerscope.experiments.feature_vis import CLAIM, EXPERIMENT, activations, visualize
from checkerscope.models import StridedClassifier

from .helpers import only_claim, run_quick

TINY = {"channels": 3, "vis_size": 32, "vis_steps": 3, "seeds": 3}
CLASSIFIER = {
    "steps": 4,
    "checkpoint_every": 2,
    "n_per_image": 4,
    "n_test_per_image": 2,
    "width": 4,
}


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
    results = run_quick(EXPERIMENT, tmp_path, TINY, {"classifier": CLASSIFIER})
    evidence = only_claim(results, CLAIM.id)
    means = evidence["score_mean_db_per_seed"]
    assert set(means) == {"plain", "jitter", "antialiased"}
    settings = evidence["per_seed"]["settings"]
    for other in ("jitter", "antialiased"):
        assert settings[f"plain - {other}"] == pytest.approx(
            [p - o for p, o in zip(means["plain"], means[other], strict=True)]
        )
    accuracy = evidence["classifier"]["held_out_accuracy_per_seed"]
    assert len(accuracy["strided"]) == len(accuracy["antialiased"]) == 3
    numbers = results["experiments"]["feature_vis"]
    assert numbers["classifier"]["chance_accuracy"] == pytest.approx(1 / 9)
    assert len(numbers["score_db"]) == 3
    assert all(len(s) == 3 for seed in numbers["score_db"] for s in seed.values())
    for name in numbers["figures"]:
        assert Image.open(tmp_path / name).size[0] > 100
    # Both classifiers of every seed were trained once and kept in the run's cache.
    assert len(list((tmp_path / "cache").glob("classifier-*.pt"))) == 6
