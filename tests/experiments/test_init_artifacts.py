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
    assert set(claims) == set(init_artifacts.CLAIMS)
    assert_effect_sizes(claims.values())
    k4 = claims["init_artifacts"]["evidence"]["deconv_k4_vs_resize_conv"]
    assert {"welch_p", "mannwhitney_p", "cohens_d", "rank_biserial"} <= set(k4)
    assert k4["n_a"] == k4["n_b"] == 3
    icnr = claims["icnr_artifact_free"]["evidence"]
    assert icnr["max_abs_difference_to_nearest_resize_conv"] < 1e-5
    assert icnr["icnr_phase_imbalance_max"] == 0.0
    assert "hf_fraction" in claims["bilinear_resists_hf"]["evidence"]
    entry = results["experiments"]["init_artifacts"]
    assert set(entry["summary"]) == {"train", "eval"}
    assert len(entry["figures"]) == 3
    for name in entry["figures"]:
        assert (tmp_path / name).stat().st_size > 0
