"""``architectures``: the zoo's generators audited at random init, decided per architecture
over seeds, the claim by the fraction that exhibit checkerboards; its README table."""

from __future__ import annotations

import pytest
import torch

from checkerscope import audit, zoo
from checkerscope.analysis.score import THRESHOLD
from checkerscope.analysis.stats import confidence_interval
from checkerscope.experiments import architectures, parallel
from checkerscope.experiments import config as C

from .helpers import only_claim, run_quick

SMALL = {
    "seeds": 3,
    "batch": 2,
    "generators": ("dcgan", "esrgan", "melgan"),
    "discriminators": ("patchgan",),
}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return run_quick(architectures.EXPERIMENT, tmp_path_factory.mktemp("arch"), SMALL)


def test_the_configs_name_every_generator_and_discriminator_of_the_zoo() -> None:
    roles = {role: [a.name for a in zoo.ARCHITECTURES.values() if a.role == role]
             for role in ("generator", "discriminator")}  # fmt: skip
    for scale in C.SCALES:
        cfg = C.ARCHITECTURES[scale]
        assert list(cfg.generators) == roles["generator"]
        assert cfg.seeds >= 8 and cfg.batch >= 2
        assert cfg.discriminators in ((), C.ZOO_DISCRIMINATORS)
    assert list(C.ZOO_DISCRIMINATORS) == roles["discriminator"]
    assert {"melgan", "hifigan_v1", "demucs"} <= set(C.ARCHITECTURES["quick"].generators)


def test_the_claim_is_decided_per_architecture_over_the_experiment_s_seeds(results) -> None:
    e = only_claim(results, "common_architectures")
    (claim,) = results["claims"]
    seeds = results["experiments"]["architectures"]["seeds"]
    assert e["per_seed"]["seeds"] == seeds and len(seeds) == 3
    assert list(e["per_seed"]["settings"]) == list(SMALL["generators"])  # patchgan not counted
    assert list(e["not_counted_discriminators"]) == ["patchgan"]
    # Independently: each architecture passes iff the audit's own 95% interval, on the same
    # seeds, lies above the threshold; the claim iff at least half pass.
    passed = []
    for name in SMALL["generators"]:
        entry = zoo.architecture(name)
        # With the experiment's thread count: sums split over threads differ in the last bits.
        before = torch.get_num_threads()
        torch.set_num_threads(parallel.THREADS_PER_TASK)
        try:
            report = audit(zoo.build(name), entry.input_shape, seeds, batch=2)
        finally:
            torch.set_num_threads(before)
        assert e["per_seed"]["settings"][name] == pytest.approx(list(report.seed_scores))
        low = confidence_interval(report.seed_scores)[0]
        assert e["rule_result"][name]["rule"]["lower_bound"] == pytest.approx(low)
        assert e["architectures"][name]["ci_db"] == pytest.approx(list(report.ci))
        if low > THRESHOLD:
            passed.append(name)
    assert e["items"]["passed_items"] == passed
    assert e["effect_size"] == pytest.approx(len(passed) / 3)
    assert claim["holds"] is (len(passed) / 3 >= architectures.FRACTION)
    assert claim["rule"]["kind"] == "items_pass" and claim["rule"]["fraction"] == 0.5


def test_each_architecture_s_evidence_names_its_layer_and_its_fix(results) -> None:
    e = only_claim(results, "common_architectures")["architectures"]
    dcgan, esrgan, melgan = (e[n] for n in SMALL["generators"])
    assert dcgan["top_layer"]["kind"] == "conv_transpose" and dcgan["top_layer"]["hz"] is None
    assert dcgan["convert_default"].startswith("convert(): 4 ConvTranspose2d -> ResizeConv2d")
    assert dcgan["fixed_score_db"] < dcgan["score_db"]
    assert esrgan["fixed_score_db"] is None and esrgan["fix"].startswith("none: ")
    assert melgan["domain"] == "audio" and melgan["top_layer"]["hz"] == 11025.0


def test_the_readme_table_and_the_figure_come_from_the_run(results) -> None:
    entry = results["experiments"]["architectures"]
    table = entry["readme_markdown"][architectures.README_BLOCK]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert [r.split(" ")[1] for r in rows] == ["`dcgan`", "`esrgan`", "`melgan`", "`patchgan`"]
    assert "image, discriminator (gradients)" in rows[-1]
    assert entry["figures"] == ["architectures_scores.png"]
    assert "not counted" in entry["captions"]["scores"]
    assert [r["name"] for r in entry["rows"]] == [*SMALL["generators"], "patchgan"]
