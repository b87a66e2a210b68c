from __future__ import annotations

import pytest
import torch
from PIL import Image
from torch import nn

from checkerscope.experiments import config as C
from checkerscope.experiments.gradients import CLAIM, EXPERIMENT, build_discriminator

from .helpers import only_claim, run_quick

TINY = {"seeds": 3, "n_crops": 4, "n_scored": 2, "shown": 2, "image_size": 32, "ndf": 4}


def test_variants_differ_only_in_their_downsamplers() -> None:
    cfg = C.for_scale(C.GRADIENTS, "quick", TINY)
    k4 = build_discriminator("strided_k4", cfg)
    strided = [m for m in k4.modules() if isinstance(m, nn.Conv2d) and m.stride == (2, 2)]
    assert strided and all(m.kernel_size == (4, 4) for m in strided)
    pooled = build_discriminator("avgpool", cfg)
    assert not any(isinstance(m, nn.Conv2d) and m.stride == (2, 2) for m in pooled.modules())
    x = torch.rand(3, 3, 32, 32)
    for v in cfg.variants:
        assert build_discriminator(v, cfg)(x).shape == (3,)
    with pytest.raises(ValueError, match=r"variant must be one of .* got 'maxpool'"):
        build_discriminator("maxpool", cfg)


def test_quick_run_decides_the_claim_and_writes_figures(tmp_path) -> None:
    results = run_quick(EXPERIMENT, tmp_path, TINY)
    evidence = only_claim(results, CLAIM.id)
    assert len(evidence["per_seed"]["seeds"]) == 3 and "effect_size" in evidence
    pairs = evidence["phase_ratio_differences_per_seed"]
    assert len(pairs) == 4 and "strided_k4_vs_avgpool" in pairs
    # The per-seed effect is the weakest of the four paired differences.
    assert evidence["per_seed"]["values"] == [min(d) for d in zip(*pairs.values(), strict=True)]
    numbers = results["experiments"]["gradients"]
    assert set(numbers["phase_ratio"]) == set(C.GRADIENTS["quick"].variants)
    assert all(len(r) == 3 and min(r) >= 1 for r in numbers["phase_ratio"].values())
    for name in numbers["figures"]:
        assert Image.open(tmp_path / name).size[0] > 100
