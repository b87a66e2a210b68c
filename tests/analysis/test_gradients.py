"""input_gradient (analysis.gradients): against the transposed operator, and its arguments."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from checkerscope.analysis.gradients import input_gradient
from checkerscope.analysis.score import checkerboard_score, gradient_checkerboard


def test_gradient_of_a_conv_is_its_transpose_applied_to_ones() -> None:
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 5, 4, stride=2, padding=1, bias=True).double()
    x = torch.rand(2, 3, 12, 12, dtype=torch.float64)
    g = input_gradient(conv, x)
    ones = torch.ones(2, 5, 6, 6, dtype=torch.float64)
    expected = F.conv_transpose2d(ones, conv.weight, stride=2, padding=1)
    assert torch.allclose(g, expected)
    assert conv.weight.grad is None  # the parameters get no gradient


def test_each_item_gets_its_own_gradient_and_output_picks_the_scalar() -> None:
    lin = nn.Linear(4, 3).double()
    x = torch.rand(5, 4, dtype=torch.float64)
    g = input_gradient(lin, x)
    assert torch.allclose(g, lin.weight.sum(0).expand(5, 4))
    first = input_gradient(lin, x, output=lambda y: y[:, 0])
    assert torch.allclose(first, lin.weight[0].expand(5, 4))


def test_runs_under_no_grad_and_refuses_integer_input() -> None:
    conv = nn.Conv2d(1, 1, 3)
    with torch.no_grad():
        assert input_gradient(conv, torch.rand(1, 1, 8, 8)).shape == (1, 1, 8, 8)
    message = r"^x must be a floating-point tensor, got dtype torch\.int64$"
    with pytest.raises(ValueError, match=message):
        input_gradient(conv, torch.ones(1, 1, 8, 8, dtype=torch.long))


def test_gradient_checkerboard_scores_the_input_gradient() -> None:
    torch.manual_seed(0)
    disc = nn.Conv2d(3, 8, 3, stride=2)
    x = torch.rand(2, 3, 32, 32)
    expected = checkerboard_score(input_gradient(disc, x), color="mean")
    assert torch.equal(gradient_checkerboard(disc, x), expected)
