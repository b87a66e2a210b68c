from __future__ import annotations

import pytest
import torch
from PIL import Image
from torch import nn

from checkerscope.data import ImageSource
from checkerscope.experiments import config as C
from checkerscope.experiments import gan
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


def test_quick_run_decides_the_claim_and_writes_figures(tmp_path) -> None:
    results = run_quick(EXPERIMENT, tmp_path, TINY, {"classifier": CLASSIFIER})
    evidence = only_claim(results, CLAIM.id)
    assert len(evidence["per_seed"]["seeds"]) == 3 and "effect_size" in evidence
    magnitude = evidence["magnitude_score_db_per_seed"]["classifier"]
    # The per-seed effect is the paired difference strided - anti-aliased.
    assert evidence["per_seed"]["values"] == pytest.approx(
        [s - a for s, a in zip(magnitude["strided"], magnitude["antialiased"], strict=True)]
    )
    assert "not measured" in evidence["discriminator"]
    accuracy = evidence["classifier"]["held_out_accuracy_per_seed"]
    assert set(accuracy) == {"strided", "antialiased"} and len(accuracy["strided"]) == 3
    assert evidence["classifier"]["chance_accuracy"] == pytest.approx(1 / 9)
    numbers = results["experiments"]["gradients"]
    assert all(len(r) == 3 and min(r) >= 1 for r in numbers["phase_ratio"]["classifier"].values())
    assert numbers["classifier_config"]["steps"] == 4
    for name in numbers["figures"]:
        assert Image.open(tmp_path / name).size[0] > 100
    assert len(list((tmp_path / "cache").glob("classifier-*.pt"))) == 6


def test_the_gan_discriminators_are_measured_when_the_gan_provides_them(
    tmp_path, monkeypatch
) -> None:
    calls: list[tuple[str, int]] = []

    def trained_gan(ctx, variant: str, seed: int) -> tuple[nn.Module, nn.Module]:
        # A stand-in for gan.trained_gan: untrained k4 s2 and anti-aliased discriminators.
        calls.append((variant, seed))
        kind = "strided_conv" if variant == "strided" else "antialiased"
        return nn.Identity(), strided(seed, kind, kernel_size=4)

    monkeypatch.setattr(gan, "trained_gan", trained_gan, raising=False)
    results = run_quick(EXPERIMENT, tmp_path, TINY, {"classifier": CLASSIFIER})
    evidence = only_claim(results, CLAIM.id)
    assert set(evidence["per_seed"]["settings"]) == {"classifier", "discriminator"}
    assert "discriminator" not in evidence  # no "not measured" note
    assert sorted(calls) == sorted((v, k) for v in C.GRADIENTS["quick"].gan_variants
                                   for k in range(3))  # fmt: skip
    d = evidence["magnitude_score_db_per_seed"]["discriminator"]
    assert min(d["strided"]) > max(d["antialiased"])  # k4 s2 at random init: a grid
