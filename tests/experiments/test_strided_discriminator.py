"""The ``strided_discriminator`` experiment (experiments/strided_discriminator.py), run tiny."""

from __future__ import annotations

from pathlib import Path

import pytest

from checkerscope.experiments import config as C
from checkerscope.experiments import strided_discriminator as S
from checkerscope.experiments.gan_quality import KID_GAP, LEARNED

from .helpers import only_claim, run_quick
from .tiny_gan import TINY_DCGAN


def test_one_generator_against_a_strided_and_an_anti_aliased_discriminator(
    tmp_path: Path,
) -> None:
    results = run_quick(S.EXPERIMENT, tmp_path, TINY_DCGAN)
    evidence = only_claim(results, "strided_discriminator_artifacts")
    values = evidence["per_seed"]["values"]
    per_d = evidence["per_discriminator"]
    assert list(per_d) == ["strided_k4", "antialiased"] and len(values) == 3
    strided, antialiased = per_d["strided_k4"]["score"], per_d["antialiased"]["score"]
    assert values == pytest.approx([a - b for a, b in zip(strided, antialiased, strict=True)])
    assert set(evidence["rule_result"]["guards"]) == {KID_GAP, LEARNED}
    # The same generator starts both trainings, free of checkerboard (ICNR).
    assert per_d["strided_k4"]["kid_init"] == per_d["antialiased"]["kid_init"]
    assert max(evidence["score_at_initialization_db"]) < 3.0
    assert "subpixel_icnr" in evidence["generator"] and "'dcgan'" in evidence["generator"]
    entry = results["experiments"]["strided_discriminator"]
    assert sorted(entry["captions"]) == ["curves", "quality", "samples"]
    assert all((tmp_path / name).stat().st_size > 0 for name in entry["figures"])


def test_the_strided_experiment_shares_gan_trainings_training_settings() -> None:
    for scale in C.SCALES:
        gan, strided = C.GAN_TRAINING[scale], C.STRIDED_DISCRIMINATOR[scale]
        assert strided.discriminators == S.DISCRIMINATORS
        assert (strided.lr, strided.batch_size, strided.ndf) == (gan.lr, gan.batch_size, gan.ndf)


def test_other_settings_are_refused(tmp_path: Path) -> None:
    from checkerscope.experiments.runner import run
    from checkerscope.experiments.settings import RunSettings

    for change, message in (
        ({"discriminators": ["strided_k4"]}, "discriminators must be"),
        ({"inits": ["dcgan", "default"]}, "variants and inits must name one each"),
    ):
        settings = RunSettings(
            "quick", tmp_path / "x", show_progress=False,
            overrides={"strided_discriminator": {**TINY_DCGAN, **change}},
        )  # fmt: skip
        with pytest.raises(ValueError, match=message):
            run([S.EXPERIMENT], settings)
