"""The ``gan_training`` experiment (experiments/gan.py), run tiny."""

from __future__ import annotations

from pathlib import Path

import pytest

from checkerscope.experiments import gan as G
from checkerscope.experiments.gan_quality import CLASSIFIER, KID_GAP, LEARNED, STAND_IN

from .helpers import only_claim, run_quick
from .tiny_gan import TINY_DCGAN


def test_gan_training_decides_over_seeds_in_every_initialization(tmp_path: Path) -> None:
    results = run_quick(G.EXPERIMENT, tmp_path, TINY_DCGAN)
    evidence = only_claim(results, "gan_training")
    settings = ["init=dcgan", "init=default"]
    per_seed = evidence["per_seed"]["settings"]
    assert list(per_seed) == settings and all(len(v) == 3 for v in per_seed.values())
    assert evidence["per_seed"]["seeds"] == results["experiments"]["gan_training"]["seeds"]
    for s in settings:
        deconv = evidence["per_arm"][f"deconv, {s}"]
        resize = evidence["per_arm"][f"resize_conv, {s}"]
        assert per_seed[s] == pytest.approx(
            [a - b for a, b in zip(deconv["score"], resize["score"], strict=True)]
        )
        assert set(evidence["rule_result"][s]["guards"]) == {KID_GAP, LEARNED}
        assert all(p.keys() == {"2", "4", "8"} for p in deconv["period_scores"])
    passed = [evidence["rule_result"][s]["passed"] for s in settings]
    assert results["claims"][0]["holds"] == all(passed)
    assert evidence["quality_features"] in (STAND_IN, CLASSIFIER)
    assert len(evidence["data_kid_per_seed"]) == 3
    assert "standard errors are over seeds" in evidence["unit"]
    entry = results["experiments"]["gan_training"]
    names = ("curves", "quality", "samples")
    assert sorted(entry["figures"]) == sorted(f"gan_training_{n}.png" for n in names)
    assert all((tmp_path / name).stat().st_size > 0 for name in entry["figures"])
    assert sorted(entry["captions"]) == sorted(names)
    assert evidence["quality_features"] in entry["captions"]["quality"]
    run = entry["runs"]["deconv, init=dcgan"][0]
    assert run["scores"]["step"] == [0, 2, 4] and "samples" not in run


def test_gan_training_refuses_settings_it_cannot_compare(tmp_path: Path) -> None:
    from checkerscope.experiments.runner import run
    from checkerscope.experiments.settings import RunSettings

    for change, message in (
        ({"variants": ["deconv"]}, "variants must be"),
        ({"inits": ["xavier"]}, "inits must be some of"),
        ({"discriminators": ["strided_k4", "antialiased"]}, "discriminators must name one"),
    ):
        settings = RunSettings(
            "quick", tmp_path / "x", show_progress=False,
            overrides={"gan_training": {**TINY_DCGAN, **change}},
        )  # fmt: skip
        with pytest.raises(ValueError, match=message):
            run([G.EXPERIMENT], settings)
