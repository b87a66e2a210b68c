from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from PIL import Image
from torch import nn

from checkerscope.data import ImageSource
from checkerscope.experiments import config as C
from checkerscope.experiments import gradients as G
from checkerscope.experiments.gradients import CLAIM, EXPERIMENT, gradient_measures
from checkerscope.nn import downsampler

from .helpers import only_claim, run_quick

TINY = {"seeds": 3, "n_crops": 2, "shown": 2}
CLASSIFIER = {
    "steps": 4,
    "checkpoint_every": 2,
    "n_per_image": 4,
    "n_test_per_image": 2,
    "width": 4,
}


def stride_one(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 3),
    )  # fmt: skip


def strided(seed: int, kind: str = "strided_conv", kernel_size: int = 3) -> nn.Module:
    torch.manual_seed(seed)
    extra = {"kernel_size": kernel_size} if kind == "strided_conv" else {}
    return nn.Sequential(
        downsampler(kind, 3, 16, **extra), nn.ReLU(), downsampler(kind, 16, 32, **extra),
        nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 3),
    )  # fmt: skip


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_measure_scores_strided_gradients_high_and_stride_one_gradients_low(seed) -> None:
    x = ImageSource().crops(16, 32, seed=seed) * 2 - 1
    labels = torch.arange(16) % 3
    flat = gradient_measures(stride_one(seed), x, labels)
    grid = gradient_measures(strided(seed), x, labels)
    blurred = gradient_measures(strided(seed, "antialiased"), x, labels)
    assert float(flat["magnitude"].mean()) < 6 and float(blurred["magnitude"].mean()) < 6
    assert float(grid["magnitude"].mean()) > 12
    assert abs(flat["ratio"] - 1) < 0.2 < grid["ratio"] - 1
    assert flat["maps"].shape == (16, 1, 32, 32) and bool((flat["maps"] >= 0).all())


def test_the_gradient_is_that_of_the_true_class_logit() -> None:
    model, x = stride_one(0), torch.rand(4, 3, 16, 16)
    labels = torch.tensor([0, 2, 1, 2])
    x_ = x.clone().requires_grad_(True)
    model(x_).gather(1, labels[:, None]).sum().backward()
    assert x_.grad is not None
    m = gradient_measures(model, x, labels)
    assert torch.allclose(m["maps"], x_.grad.abs().mean(dim=1, keepdim=True))


class Untrained:
    """A stand-in for trained_gan (as the experiment imports it): untrained k4 s2 or
    anti-aliased discriminators, the calls recorded."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, str, str]] = []

    def __call__(self, ctx, variant: str, seed: int, *, init: str, discriminator: str, config):
        self.calls.append((variant, seed, init, discriminator))
        kind = "strided_conv" if discriminator == "strided_k4" else "antialiased"
        return SimpleNamespace(G=nn.Identity(), D=strided(seed % 2**31, kind, kernel_size=4))


def test_quick_run_decides_the_claim_and_measures_the_gans_discriminators(
    tmp_path, monkeypatch
) -> None:
    fake = Untrained()
    monkeypatch.setattr(G, "trained_gan", fake)
    results = run_quick(EXPERIMENT, tmp_path, TINY, {"classifier": CLASSIFIER})
    evidence = only_claim(results, CLAIM.id)
    assert len(evidence["per_seed"]["seeds"]) == 3 and "effect_size" in evidence
    magnitude = evidence["magnitude_score_db_per_seed"]["classifier"]
    # The per-seed effect is the paired difference strided - anti-aliased, classifiers only.
    assert evidence["per_seed"]["values"] == pytest.approx(
        [s - a for s, a in zip(magnitude["strided"], magnitude["antialiased"], strict=True)]
    )
    accuracy = evidence["classifier"]["held_out_accuracy_per_seed"]
    assert set(accuracy) == {"strided", "antialiased"} and len(accuracy["strided"]) == 3
    assert evidence["classifier"]["chance_accuracy"] == pytest.approx(1 / 9)
    numbers = results["experiments"]["gradients"]
    assert all(len(r) == 3 and min(r) >= 1 for r in numbers["phase_ratio"]["classifier"].values())
    assert numbers["classifier_config"]["steps"] == 4
    assert len(numbers["figures"]) == 3
    for name in numbers["figures"]:
        assert Image.open(tmp_path / name).size[0] > 100
    assert len(list((tmp_path / "cache").glob("classifier-*.pt"))) == 6
    # The discriminators: strided_discriminator's GANs (its seeds, its config), both kinds.
    cfg = C.STRIDED_DISCRIMINATOR["quick"]
    seeds = [c[1] for c in fake.calls if c[3] == "strided_k4"]
    assert len(seeds) == cfg.seeds and len(fake.calls) == 2 * cfg.seeds
    assert {(c[0], c[2]) for c in fake.calls} == {(cfg.variants[0], cfg.inits[0])}
    d = evidence["discriminator"]
    assert d["deciding"] is False and len(d["strided_minus_antialiased_db_per_gan_seed"]) == 3
    measured = evidence["magnitude_score_db_per_seed"]["discriminator"]
    assert min(measured["strided"]) > max(measured["antialiased"])  # k4 s2 at random init: a grid
