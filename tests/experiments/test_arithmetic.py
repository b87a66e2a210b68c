from __future__ import annotations

from pathlib import Path

import pytest
import torch

from checkerscope.analysis import overlap
from checkerscope.experiments import arithmetic

from .helpers import assert_effect_sizes, run_quick


@pytest.mark.parametrize(("k", "s"), [(3, 2), (4, 2), (5, 3), (2, 3), (7, 4)])
def test_brute_force_counts_match_the_interior_of_overlap(k: int, s: int) -> None:
    n = 4 * k
    full = overlap((k, s), n)  # the library's own border-aware counts
    interior = full[k - 1 : (n - 1) * s + 1]
    assert torch.equal(arithmetic.brute_force_counts(k, s, 1), interior)
    assert torch.equal(arithmetic.brute_force_counts(k, s, 2), torch.outer(interior, interior))


def test_arithmetic_quick(tmp_path: Path) -> None:
    results = run_quick(arithmetic.EXPERIMENT, tmp_path, {"weight_draws": 4, "matrix_checks": 2})
    claims = {c["id"]: c for c in results["claims"]}
    assert set(claims) == {c.id for c in arithmetic.CLAIMS}
    # Exact arithmetic: every claim holds at any scale, by every one of its named checks.
    assert all(c["holds"] for c in claims.values()), claims
    for c in claims.values():
        assert c["rule"]["kind"] == "exact" and "per_seed" not in c["evidence"]
        assert c["evidence"]["checks"] and all(c["evidence"]["checks"].values())
    assert_effect_sizes(claims.values())
    assert claims["overlap_uneven_1d"]["evidence"]["k3_s2_ratio"] == 2.0
    assert claims["overlap_uneven_1d"]["evidence"]["k4_s2_ratio"] == 1.0
    assert claims["overlap_2d_squared"]["evidence"]["k3_s2_ratio_2d"] == 4.0
    assert claims["overlap_stack_compounds"]["evidence"]["3"]["uneven_periods"] == [2, 4, 8]
    tying = claims["matrix_weight_tying"]["evidence"]
    assert tying["deconv_1d"]["weights_per_output"] == [2]
    assert tying["imbalance_1d"]["imbalance_resize_conv_max"] == 0.0
    entry = results["experiments"]["arithmetic"]
    assert len(entry["figures"]) == 5
    for name in entry["figures"]:
        assert (tmp_path / name).stat().st_size > 0
