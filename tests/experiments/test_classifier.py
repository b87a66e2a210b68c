"""The shared trained classifier (experiments/classifier.py): split, training, cache, resume."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from rich.progress import Progress
from torch import nn

from checkerscope.data import ImageSource
from checkerscope.experiments import classifier as clf
from checkerscope.experiments import config as C
from checkerscope.experiments import feature_vis, gradients
from checkerscope.experiments.checkpoint import load_checkpoint
from checkerscope.experiments.context import Context, Experiment
from checkerscope.experiments.distributed import Dist
from checkerscope.experiments.runner import experiment_seed
from checkerscope.experiments.settings import RunSettings
from checkerscope.models import StridedClassifier

from .helpers import Stop, StopAt, assert_resumes_exactly

TINY = {"steps": 4, "checkpoint_every": 2, "n_per_image": 4, "n_test_per_image": 2, "width": 4}


def context(
    out: Path,
    overrides: dict[str, Any] | None = None,
    seed: int = 0,
    experiment: Experiment = gradients.EXPERIMENT,
) -> Context:
    """A context of ``experiment`` at quick scale whose classifier config has ``overrides``."""
    settings = RunSettings("quick", out, seed=seed, overrides={"classifier": overrides or TINY})
    return Context(
        experiment,
        experiment.configs["quick"],
        settings,
        experiment_seed(seed, experiment.id),
        ImageSource(),
        Dist(),
        Progress(disable=True),
        None,
    )


@pytest.mark.parametrize(
    ("height", "width", "size", "tile"),
    [(64, 96, 8, 16), (70, 53, 10, 16), (40, 40, 16, 16), (33, 65, 1, 8)],
)
def test_the_split_from_the_tile_grid_agrees_with_the_pixels(height, width, size, tile) -> None:
    held = clf.held_out_pixels(height, width, tile).float()[None, None]
    touched = F.max_pool2d(held, size, stride=1)[0, 0] > 0
    inside = -F.max_pool2d(-held, size, stride=1)[0, 0] > 0
    assert torch.equal(clf.crop_positions(height, width, size, tile, "train"), ~touched)
    # Held-out tiles never touch, so a crop of held-out pixels lies inside one tile.
    assert torch.equal(clf.crop_positions(height, width, size, tile, "held_out"), inside)
    assert inside.any() and (~touched).any()


def test_bad_split_arguments_are_named() -> None:
    with pytest.raises(
        ValueError, match=r"part must be one of \('train', 'held_out'\), got 'test'"
    ):
        clf.crop_positions(64, 64, 8, 16, "test")
    with pytest.raises(ValueError, match="size must be between 1 and the tile side 16, got 17"):
        clf.crop_positions(64, 64, 17, 16, "train")
    with pytest.raises(ValueError, match="needs at least 2 images of at least 128 pixels a side"):
        clf.usable([torch.rand(3, 200, 200), torch.rand(3, 100, 300)], C.CLASSIFIER["quick"])
    with pytest.raises(ValueError, match=r"kind must be one of \('strided', 'antialiased'\)"):
        clf.network(C.CLASSIFIER["quick"], 3, "maxpool")


def test_training_and_held_out_crops_are_disjoint_pixels() -> None:
    image = torch.arange(3 * 128 * 192, dtype=torch.float32).reshape(3, 128, 192) / 1e5
    held = clf.held_out_pixels(128, 192, 32)
    for part, want in (("train", False), ("held_out", True)):
        x, y = clf.photo_crops([image], 50, 16, 32, part, seed=1)
        assert x.shape == (50, 3, 16, 16) and y.tolist() == [0] * 50
        for crop in (x + 1) / 2:  # find each crop's position from its first pixel's index
            flat = round(float(crop[0, 0, 0]) * 1e5)
            top, left = divmod(flat, 192)
            assert torch.allclose(crop, image[:, top : top + 16, left : left + 16], atol=1e-6)
            assert bool(held[top : top + 16, left : left + 16].all()) is want
            assert bool(held[top : top + 16, left : left + 16].any()) is want


def test_the_twins_start_from_the_same_weights_and_differ_in_downsampling() -> None:
    cfg = C.CLASSIFIER["quick"]
    nets = {}
    for kind in clf.KINDS:
        torch.manual_seed(3)
        nets[kind] = clf.network(cfg, 9, kind)
    a, b = (list(n.state_dict().values()) for n in nets.values())  # names differ, not order
    assert len(a) == len(b) and all(torch.equal(p, q) for p, q in zip(a, b, strict=True))
    strided = [
        m for m in nets["strided"].modules() if isinstance(m, nn.Conv2d) and m.stride == (2, 2)
    ]
    assert len(strided) == cfg.stages and all(m.kernel_size == (3, 3) for m in strided)
    assert not any(getattr(m, "stride", 1) == (2, 2) for m in nets["antialiased"].modules()
                   if isinstance(m, nn.Conv2d))  # fmt: skip


@pytest.mark.parametrize("kind", list(clf.KINDS))
def test_the_quick_classifier_beats_chance_by_far_on_held_out_crops(tmp_path, kind) -> None:
    cfg = C.CLASSIFIER["quick"]
    art = clf.build(ImageSource().images(), cfg, kind, seed=0, workdir=tmp_path)
    assert art["classes"] == 9 and art["chance"] == pytest.approx(1 / 9)
    assert art["accuracy"] >= 4 * art["chance"], art["accuracy"]  # 44%; it reaches about 70%
    assert len(art["accuracy_per_class"]) == 9 and art["cpu_seconds"] > 0


def test_classifier_training_resumes_exactly(tmp_path) -> None:
    cfg = C.with_overrides(C.CLASSIFIER["quick"], {"steps": 6, "checkpoint_every": 2, "width": 4})
    x, y = torch.rand(16, 3, 32, 32) * 2 - 1, torch.arange(16) % 3

    def model() -> StridedClassifier:
        torch.manual_seed(0)
        return StridedClassifier(3, 3, cfg.width, cfg.stages)

    full = assert_resumes_exactly(
        model,
        lambda net, **kw: clf.fit(net, x, y, cfg, seed=1, **kw),
        tmp_path,
        stop_at=4,
    )
    assert len(full) == 6


def test_an_interrupted_build_resumes_to_the_uninterrupted_classifier(tmp_path) -> None:
    cfg = C.with_overrides(C.CLASSIFIER["quick"], TINY)
    images = ImageSource().images()
    whole = clf.build(images, cfg, "antialiased", seed=5, workdir=tmp_path / "a")
    with pytest.raises(Stop):
        clf.build(images, cfg, "antialiased", seed=5, workdir=tmp_path / "b", bar=StopAt(2))
    assert load_checkpoint(tmp_path / "b" / "train.pt")["step"] == 2
    torch.manual_seed(99)  # the build seeds everything itself
    resumed = clf.build(images, cfg, "antialiased", seed=5, workdir=tmp_path / "b")
    for key in ("accuracy", "train_accuracy", "accuracy_per_class", "final_loss"):
        assert resumed[key] == whole[key], key
    assert all(torch.equal(resumed["state_dict"][k], v) for k, v in whole["state_dict"].items())


def test_a_second_request_loads_and_another_key_rebuilds(tmp_path, monkeypatch) -> None:
    builds: list[tuple[str, int]] = []
    real = clf.build

    def counting(images, cfg, kind, seed, workdir, device="cpu", bar=None):
        builds.append((kind, cfg.steps))
        return real(images, cfg, kind, seed, workdir, device, bar)

    monkeypatch.setattr(clf, "build", counting)
    first = clf.trained(context(tmp_path), "strided", 1)
    # Another experiment of the same run asks for the same network: loaded, not trained.
    again = clf.trained(context(tmp_path, experiment=feature_vis.EXPERIMENT), "strided", 1)
    assert builds == [("strided", 4)]
    assert first.about == again.about
    pairs = zip(first.model.parameters(), again.model.parameters(), strict=True)
    assert all(torch.equal(p, q) for p, q in pairs)
    assert not any(p.requires_grad for p in again.model.parameters()) and not again.model.training
    clf.trained(context(tmp_path, {**TINY, "steps": 5}), "strided", 1)  # another config
    clf.trained(context(tmp_path), "strided", 2)  # another seed
    clf.trained(context(tmp_path, seed=1), "strided", 1)  # another base seed
    assert builds == [("strided", 4), ("strided", 5), ("strided", 4), ("strided", 4)]
    assert len(list((tmp_path / "cache").glob("classifier-*.pt"))) == 4


def test_the_seed_depends_on_the_base_seed_and_index_only(tmp_path) -> None:
    a = clf.classifier_seed(context(tmp_path), 1)
    assert a == clf.classifier_seed(context(tmp_path, experiment=feature_vis.EXPERIMENT), 1)
    assert len({a, clf.classifier_seed(context(tmp_path), 0),
                clf.classifier_seed(context(tmp_path, seed=1), 1)}) == 3  # fmt: skip


def test_classifier_features_are_the_pooled_last_stage(tmp_path) -> None:
    ctx = context(tmp_path)
    features = clf.classifier_features(ctx)
    x = torch.rand(5, 3, 32, 32) * 2 - 1
    f = features(x)
    assert f.shape == (5, TINY["width"] * 2 ** C.CLASSIFIER["quick"].stages)
    model = clf.trained_classifier(ctx)
    assert torch.allclose(model.main[-1](f), model(x))  # the logits are a linear map of them
