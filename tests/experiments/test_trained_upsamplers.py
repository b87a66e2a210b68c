"""The ``trained_upsamplers`` experiment (experiments/trained_upsamplers.py), run tiny."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from checkerscope.experiments import trained_upsamplers as U

from .helpers import assert_effect_sizes, assert_resumes_exactly, run_quick
from .tiny_gan import tiny_context

TINY = {"steps": 4, "n_train": 32, "n_eval": 8, "checkpoint_every": 2, "ngf": 4, "batch_size": 8}


def test_the_four_claims_are_decided_from_the_same_trained_generators(tmp_path: Path) -> None:
    results = run_quick(U.EXPERIMENT, tmp_path, TINY)
    claims = {c["id"]: c for c in results["claims"]}
    assert list(claims) == [c.id for c in U.CLAIMS]
    assert_effect_sizes(claims.values())
    assert all(len(c["evidence"]["per_seed"]["values"]) == 3 for c in claims.values())
    entry = results["experiments"]["trained_upsamplers"]
    after = {v: [x["score"] for x in entry["per_seed"][v]["after"]] for v in entry["per_seed"]}
    data = [d["score"] for d in entry["data"]]

    def values(claim: str) -> list[float]:
        return claims[claim]["evidence"]["per_seed"]["values"]

    k3, k4 = after["deconv_k3"], after["deconv_k4"]
    assert values("learned_even_overlap_milder") == pytest.approx(
        [a - b for a, b in zip(k3, k4, strict=True)]
    )
    expected = [
        s - max(i, r)
        for s, i, r in zip(
            after["subpixel"], after["subpixel_icnr"], after["resize_conv"], strict=True
        )
    ]
    assert values("subpixel_after_training") == pytest.approx(expected)
    guard = claims["subpixel_after_training"]["evidence"]["rule_result"]["guards"]
    assert guard[U.SUBPIXEL_VS_DATA]["values"] == pytest.approx(
        [s - d for s, d in zip(after["subpixel"], data, strict=True)]
    )
    resize = after["resize_conv"]
    assert values("even_overlap_still_artifacts") == pytest.approx(
        [a - b for a, b in zip(k4, resize, strict=True)]
    )
    hf = {v: [x["hf"] for x in entry["per_seed"][v]["after"]] for v in entry["per_seed"]}
    assert values("bilinear_resists_hf") == pytest.approx(
        [a - b for a, b in zip(hf["resize_conv"], hf["bilinear_resize_conv"], strict=True)]
    )
    statement = claims["learned_even_overlap_milder"]["statement"]
    assert "trained 4 steps by mean squared error" in statement and "8x8 thumbnails" in statement
    assert sorted(entry["captions"]) == ["hf", "samples", "scores"]
    assert all((tmp_path / name).stat().st_size > 0 for name in entry["figures"])


def test_at_initialization_the_fixes_are_clean_and_the_others_are_not(tmp_path: Path) -> None:
    ctx = tiny_context(tmp_path, "trained_upsamplers", overrides=TINY)
    cfg = ctx.config
    data = U.split(ctx, cfg, 5)
    numbers = {v: U.one_generator(ctx, cfg, 5, v, data)["before"]["score"] for v in cfg.variants}
    clean = max(numbers[v] for v in ("subpixel_icnr", "resize_conv", "bilinear_resize_conv"))
    assert clean + 5.0 < min(numbers[v] for v in ("deconv_k4", "deconv_k3", "subpixel"))


def test_a_generator_resumes_its_training_exactly(tmp_path: Path) -> None:
    ctx = tiny_context(tmp_path, "trained_upsamplers", overrides=TINY)
    cfg = ctx.config
    data = U.split(ctx, cfg, 3)
    crops, codes = data.crops, data.codes

    def make() -> torch.nn.Module:
        return U.generator("deconv_k3", cfg, codes.shape[1], seed=3)

    def train(net: torch.nn.Module, checkpoint: Path, bar=None) -> list[float]:
        return U.train_generator(net, crops, codes, cfg, seed=3, checkpoint=checkpoint, bar=bar)

    losses = assert_resumes_exactly(make, train, tmp_path, stop_at=2)
    assert len(losses) == cfg.steps and losses[-1] < losses[0]
