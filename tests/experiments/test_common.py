from __future__ import annotations

import torch
from torch import nn

from checkerscope.experiments.common import random_init_outputs


def test_random_init_outputs_seeds_and_modes() -> None:
    def build() -> nn.Module:
        return nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6))

    z = torch.randn(5, 4)
    m1, out1 = random_init_outputs(build, 3, z)
    _, out2 = random_init_outputs(build, 3, z)
    assert torch.equal(out1["train"], out2["train"]) and m1.training
    # Eval mode at initialization: BatchNorm is the identity.
    assert torch.allclose(out1["eval"], m1[0](z), atol=1e-5)
    # Train mode: every feature normalized over the batch.
    assert out1["train"].mean(0).abs().max() < 1e-5
