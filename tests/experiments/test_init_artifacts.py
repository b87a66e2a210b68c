from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from checkerscope.experiments import config as C
from checkerscope.experiments import init_artifacts

from .helpers import assert_effect_sizes, run_quick

TINY = {"seeds": 3, "batch_size": 2, "n_data": 8, "ngf": 8, "nz": 8}


def test_build_generator_kernel_sizes() -> None:
    cfg = C.for_scale(C.INIT_ARTIFACTS, "quick", TINY)
    for variant, k in (("deconv_k4", 4), ("deconv_k3", 3)):
        g = init_artifacts.build_generator(variant, cfg)
        sizes = {m.kernel_size for m in g.modules() if isinstance(m, nn.ConvTranspose2d)}
        assert sizes == {(k, k)}
        assert g(torch.randn(2, cfg.nz)).shape == (2, 3, cfg.image_size, cfg.image_size)


def test_icnr_generator_equals_its_nearest_resize_conv_twin() -> None:
    cfg = C.for_scale(C.INIT_ARTIFACTS, "quick", TINY)
    torch.manual_seed(0)
    g = init_artifacts.build_generator("subpixel_icnr", cfg).eval()
    twin = init_artifacts.icnr_as_resize_conv(g).eval()
    z = torch.randn(3, cfg.nz)
    with torch.no_grad():
        assert (g(z) - twin(z)).abs().max() < 1e-5
    # A plain sub-pixel generator is not a nearest resize-conv: the twin must differ from it.
    torch.manual_seed(0)
    plain = init_artifacts.build_generator("subpixel", cfg).eval()
    from checkerscope.nn import SubPixelConv2d

    for m in plain.modules():
        if isinstance(m, SubPixelConv2d):
            m.init = "icnr"  # pretend, so the twin is built from its first sub-kernel only
    with torch.no_grad():
        assert (plain(z) - init_artifacts.icnr_as_resize_conv(plain).eval()(z)).abs().max() > 1e-3


def test_init_artifacts_quick(tmp_path: Path) -> None:
    results = run_quick(init_artifacts.EXPERIMENT, tmp_path, TINY)
    claims = {c["id"]: c for c in results["claims"]}
    assert (
        set(claims)
        == {c.id for c in init_artifacts.CLAIMS}
        == {
            "init_artifacts",
            "even_overlap_still_artifacts_at_init",
            "bilinear_resists_hf_at_init",
        }
    )  # the trained versions are other experiments' claims; ICNR is a fact, not a claim
    assert_effect_sizes(claims.values())
    k4 = claims["init_artifacts"]["evidence"]
    assert len(k4["per_seed"]["values"]) == len(k4["per_seed"]["seeds"]) == 3
    assert k4["per_seed"]["unit"] == "dB" and k4["rule"].startswith("the checkerboard score")
    entry = results["experiments"]["init_artifacts"]
    scores = entry["per_seed"]
    assert k4["per_seed"]["values"] == [
        a - b
        for a, b in zip(scores["deconv_k4"]["score"], scores["resize_conv"]["score"], strict=True)
    ]
    icnr = entry["icnr"]
    assert icnr["max_abs_difference_to_nearest_resize_conv"] < 1e-5 and icnr["equal"] is True
    assert icnr["phase_imbalance_max"] == 0.0
    even = claims["even_overlap_still_artifacts_at_init"]["evidence"]["rule_result"]
    assert set(even["guards"]) == {
        "phase imbalance of the deconv k4 layers",
        "score, deconv k4 - nearest resize-conv",
    }
    assert "hf_fraction" in claims["bilinear_resists_hf_at_init"]["evidence"]
    assert set(entry["summary"]) == {"train", "eval"}
    assert len(entry["figures"]) == 3 and set(entry["captions"]) == {"gallery", "spectra", "scores"}
    for name in entry["figures"]:
        assert (tmp_path / name).stat().st_size > 0
