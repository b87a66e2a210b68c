"""The determinism check must be able to fail: it sees torch's own nondeterministic backwards,
and its list covers the one in torch's documentation."""

from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from .dispatch_log import (
    NONDETERMINISTIC_ON_CUDA,
    NOT_APPLICABLE,
    THROWING_ON_CUDA,
    forward_backward_ops,
)


def documented_throwing_entries() -> set[str]:
    """The objects named in the docstring's list of operations that throw under mode=True."""
    doc = torch.use_deterministic_algorithms.__doc__ or ""
    section = doc.split("operations will throw a")[1].split("In addition")[0]
    return set(re.findall(r"^\s{8}\* :(?:class|func):`([\w.]+)`", section, re.MULTILINE))


def test_the_list_covers_torchs_documented_list() -> None:
    documented = documented_throwing_entries()
    assert len(documented) > 20, "the docstring's layout changed: update the parser"
    assert documented == set(THROWING_ON_CUDA) | set(NOT_APPLICABLE)


def test_every_listed_operator_exists() -> None:
    missing = [op for op in NONDETERMINISTIC_ON_CUDA if not hasattr(torch.ops.aten, op)]
    assert not missing


class Lambda(nn.Module):
    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


@pytest.mark.parametrize(
    ("fn", "op"),
    [
        (lambda x: F.pad(x, (1, 1, 1, 1), mode="reflect"), "reflection_pad2d_backward"),
        (
            lambda x: F.interpolate(x, scale_factor=2.0, mode="bilinear"),
            "upsample_bilinear2d_backward",
        ),
        (
            lambda x: F.interpolate(x[:, :, 0], scale_factor=2.0, mode="linear"),
            "upsample_linear1d_backward",
        ),
        (lambda x: F.adaptive_avg_pool2d(x, 2), "_adaptive_avg_pool2d_backward"),
    ],
)
def test_the_log_sees_torchs_nondeterministic_backwards(fn, op: str) -> None:
    ops = forward_backward_ops(Lambda(fn), torch.randn(1, 2, 4, 4))
    assert op in ops and op in NONDETERMINISTIC_ON_CUDA
