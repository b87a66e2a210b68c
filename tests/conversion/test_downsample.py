"""checkerscope.conversion.downsample: convert(downsample=True) swaps strided convolutions and
pools for anti-aliased ones that keep the weights and every output shape, for every input
size, and says what it leaves alone."""

from __future__ import annotations

import copy

import torch
from torch import nn

from checkerscope.conversion import convert
from checkerscope.nn import AntiAliasedConv2d


def test_antialias_keeps_geometry_and_weights() -> None:
    conv = nn.Conv2d(3, 6, 3, stride=2, padding=1, dilation=1, groups=3, padding_mode="reflect")
    # the root itself is replaced
    new, report = convert(
        copy.deepcopy(conv), transposed=False, downsample=True, return_report=True
    )
    assert isinstance(new, AntiAliasedConv2d)
    assert [c.name for c in report.converted] == [""] and report.skipped == ()
    assert torch.equal(new.conv.weight, conv.weight) and torch.equal(new.conv.bias, conv.bias)
    x = torch.randn(1, 3, 15, 15)
    assert new(x).shape == conv(x).shape
