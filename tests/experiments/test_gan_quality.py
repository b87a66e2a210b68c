"""Quality guards and measures of trained GANs (experiments/gan_quality.py)."""

from __future__ import annotations

import math
import statistics
import sys
import types
from pathlib import Path

import pytest
import torch

from checkerscope.experiments import gan_quality as Q
from checkerscope.experiments import trained_gans as T

from .tiny_gan import tiny_context


def test_kid_gap_is_below_one_exactly_when_the_kids_are_comparable() -> None:
    assert Q.kid_gap(0.010, 0.0, 0.019, 0.0) == pytest.approx(0.95)  # ratio 1.9 < 2
    assert Q.kid_gap(0.010, 0.0, 0.021, 0.0) > 1
    assert Q.kid_gap(0.010, 0.006, 0.025, 0.006) < 1  # ratio 2.5, but 1.8 SE apart
    assert Q.kid_gap(-0.001, 0.0, 0.001, 0.0) == math.inf  # no ratio and no error
    assert Q.kid_gap(0.5, 0.01, 0.5, 0.01) == 0.0


def test_compare_arms_pairs_seeds_in_order() -> None:
    a = [{"score": 9.0, "kid": 0.2, "kid_sem": 0.0, "kid_init": 1.0}] * 2
    b = [
        {"score": 2.0, "kid": 0.1, "kid_sem": 0.0, "kid_init": 0.5},
        {"score": 10.0, "kid": 0.3, "kid_sem": 0.0, "kid_init": 0.3},
    ]
    out = Q.compare_arms(a, b)
    assert out["effect"] == [7.0, -1.0]
    assert out[Q.KID_GAP] == pytest.approx([1.0, 0.75])
    assert out[Q.LEARNED] == [0.2, 1.0]
    assert {g.name for g in Q.GUARDS} == {Q.KID_GAP, Q.LEARNED}


def test_the_standard_error_is_over_seeds() -> None:
    values = [1.0, 4.0, 2.5, 7.0]
    expected = statistics.stdev(values) / math.sqrt(len(values))
    assert Q.standard_error(values) == pytest.approx(expected)
    assert math.isnan(Q.standard_error([3.0]))


def test_quality_features_come_from_the_trained_classifier_when_it_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = tiny_context(tmp_path)
    name = "checkerscope.experiments.classifier"
    if name not in sys.modules:
        try:
            __import__(name)
        except ModuleNotFoundError:
            features, what = Q.quality_features(ctx)  # the local stand-in, named as such
            assert what == Q.STAND_IN and "LOCAL stand-in" in what
            assert features(torch.zeros(2, 3, 32, 32)).shape[0] == 2
    fake = types.ModuleType(name)
    fake.classifier_features = lambda c: lambda x: x.flatten(1)[:, :5]  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, name, fake)
    features, what = Q.quality_features(ctx)
    assert what == Q.CLASSIFIER
    assert features(torch.ones(2, 3, 4, 4)).shape == (2, 5)


def test_measure_gan_puts_the_untrained_generator_at_step_zero(tmp_path: Path) -> None:
    ctx = tiny_context(tmp_path)
    cfg = ctx.config
    features, _ = Q.quality_features(ctx)
    crops, z = T.held_out_crops(ctx, cfg, 21), T.eval_noise(cfg, 21)
    out = Q.measure_gan(
        ctx, cfg, "deconv", 21, init="dcgan", discriminator="strided_k4", features=features,
        reference=crops, keep=3,
    )  # fmt: skip
    assert out["scores"]["step"] == [0, 2, 4] and out["losses"]["step"] == [2, 4]
    G0, _ = T.build_gan(cfg, "deconv", "dcgan", "strided_k4", 21)
    at_init = T.period_evaluator(cfg.periods, z)(G0)
    assert all(out["scores"][k][0] == x for k, x in at_init.items())
    assert out["score"] == out["scores"]["score"][-1]
    assert list(out["period_scores"]) == ["2", "4", "8"]
    assert out["kid_init"] == Q.kid_of(features, T.generate(G0, z), crops, cfg, ctx.device)[0]
    assert out["samples"].shape == (3, 3, 32, 32) and out["kid_sem"] >= 0
    assert set(Q.history(out)) == {"seed", "scores", "losses", "kid", "kid_sem", "kid_init"}
    # The data against itself (other crops of the same photographs) is near the floor.
    assert abs(Q.data_kid(ctx, cfg, features, 21, crops)) < out["kid_init"]
