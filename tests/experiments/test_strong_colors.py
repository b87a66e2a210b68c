from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from checkerscope.analysis import overlap
from checkerscope.experiments import config as C
from checkerscope.experiments import strong_colors as S

from .helpers import only_claim, run_quick


def test_target_colors_are_symmetric_about_grey() -> None:
    colors, distance, names = S.target_colors(4)
    assert colors.shape == (24, 3) and len(names) == 24
    assert torch.allclose(colors.mean(0), torch.full((3,), 0.5))
    assert torch.allclose(distance[:4], torch.linspace(0, 1, 4) * math.sqrt(3) / 2)
    assert torch.equal(colors[3], torch.tensor([1.0, 0.0, 0.0]))  # the end of the red ray


def test_analytic_amplitude_against_brute_force_overlap() -> None:
    cfg = C.for_scale(C.STRONG_COLORS, "quick")
    counts = overlap([(cfg.kernel_size, 2)] * cfg.layers, (12, 12)).double()
    period = 2**cfg.layers
    # The centre of a big map is interior: one period of it, away from every border.
    c = counts[period * 4 : period * 5, period * 4 : period * 5]
    rel = float((c - c.mean()).pow(2).mean().sqrt() / c.mean())
    assert S.analytic_relative_amplitude("deconv", cfg) == pytest.approx(rel)
    assert S.analytic_relative_amplitude("resize_conv", cfg) == 0.0


def test_strong_colors_quick_tries_every_code_start(tmp_path: Path) -> None:
    results = run_quick(S.EXPERIMENT, tmp_path, {"steps": 10, "levels": 3})
    evidence = only_claim(results, "strong_colors")
    settings = ["code_init=0.1", "code_init=0.3", "code_init=1"]
    assert list(evidence["per_seed"]["settings"]) == settings  # none dropped
    assert all(len(v) == 3 for v in evidence["per_seed"]["settings"].values())
    assert list(evidence["rule_result"]) == settings
    assert evidence["code_inits_tried"] == [0.1, 0.3, 1.0]
    for key in ("deconv_farthest_over_grey_per_seed", "code_norm_vs_distance_spearman_per_seed"):
        assert list(evidence[key]) == settings
    # The claim holds only if it holds in every setting tried.
    passed = [evidence["rule_result"][s]["passed"] for s in settings]
    assert results["claims"][0]["holds"] == all(passed)
    entry = results["experiments"]["strong_colors"]
    per_level = entry["amplitude_per_level"]["code_init=0.1"]
    assert len(per_level["deconv"]) == 3 and all(len(x) == 3 for x in per_level["deconv"])
    # Resize-conv of a flat code is flat away from the borders, trained or not.
    assert (
        max(max(x) for s in settings for x in entry["amplitude_per_level"][s]["resize_conv"]) < 1e-5
    )
    assert len(entry["figures"]) == 2
    for name in entry["figures"]:
        assert (tmp_path / name).stat().st_size > 0
