"""The references' initializations, against their definitions."""

from __future__ import annotations

import math

import torch
from torch import nn

from checkerscope.nn import ResizeConv2d
from checkerscope.zoo.initialization import (
    normal_init,
    rescale_init,
    reset_children,
    scaled_kaiming_init,
)


def test_normal_init_reaches_convolutions_of_every_kind_and_batch_norm() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(16, 32, 3),
        nn.ConvTranspose2d(32, 32, 4, 2, 1),
        ResizeConv2d(32, 32),
        nn.BatchNorm2d(32),
        nn.InstanceNorm2d(32),
        nn.Linear(8, 8),
    )
    normal_init(net, std=0.05)
    for m in (net[0], net[1], net[2], net[5]):
        assert abs(float(m.weight.detach().std()) - 0.05) < 0.01
        assert not m.bias.any()
    assert abs(float(net[3].weight.detach().mean()) - 1) < 0.03 and not net[3].bias.any()


def test_scaled_kaiming_init_is_a_tenth_of_kaiming_normal() -> None:
    torch.manual_seed(0)
    conv = nn.Conv2d(64, 64, 3)
    scaled_kaiming_init([conv], 0.1)
    expected = 0.1 * math.sqrt(2 / (64 * 9))
    assert abs(float(conv.weight.detach().std()) / expected - 1) < 0.02
    assert not conv.bias.any()


def test_rescale_init_divides_weight_and_bias_by_the_same_factor() -> None:
    torch.manual_seed(0)
    conv = nn.ConvTranspose1d(8, 8, 8, 4)
    weight, bias = conv.weight.detach().clone(), conv.bias.detach().clone()
    rescale_init(nn.Sequential(conv), 0.1)
    factor = math.sqrt(float(weight.std()) / 0.1)
    torch.testing.assert_close(conv.weight.detach(), weight / factor)
    torch.testing.assert_close(conv.bias.detach(), bias / factor)


def test_reset_children_leaves_the_root_alone() -> None:
    calls: list[str] = []

    class Probe(nn.Module):
        def __init__(self, name: str, *children: nn.Module) -> None:
            super().__init__()
            self.name, self.kids = name, nn.ModuleList(children)

        def reset_parameters(self) -> None:
            calls.append(self.name)

    root = Probe("root", Probe("a", Probe("a1")), Probe("b"))
    reset_children(root)
    assert calls == ["b", "a1", "a"]
