"""Weight-normalised convolutions: torch's weight_norm, re-drawn by the audit's reset."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from checkerscope import audit
from checkerscope.auditing.reinitialization import reinitialize
from checkerscope.zoo.weightnorm import conv1d, conv_transpose1d


@pytest.mark.parametrize(
    ("ours", "theirs"), [(conv1d, nn.Conv1d), (conv_transpose1d, nn.ConvTranspose1d)]
)
def test_same_draws_and_outputs_as_torchs_weight_norm(ours: object, theirs: type) -> None:
    torch.manual_seed(0)
    a = ours(True, 4, 6, 5, stride=2, padding=2)  # type: ignore[operator]
    torch.manual_seed(0)
    b = weight_norm(theirs(4, 6, 5, stride=2, padding=2))
    assert a.state_dict().keys() == b.state_dict().keys()
    x = torch.randn(2, 4, 20)
    torch.testing.assert_close(a(x), b(x))


@pytest.mark.parametrize("make", [conv1d, conv_transpose1d])
def test_reset_draws_a_new_weight_and_starts_g_at_its_norm(make: object) -> None:
    torch.manual_seed(0)
    conv = make(True, 4, 6, 5)  # type: ignore[operator]
    before = conv.weight.detach().clone()
    reinitialize(conv)
    g, v = conv.parametrizations.weight.original0, conv.parametrizations.weight.original1
    assert not torch.equal(before, conv.weight.detach())
    torch.testing.assert_close(conv.weight.detach(), v.detach())  # g = ||v||: w = v
    torch.testing.assert_close(g.flatten(), v.detach().flatten(1).norm(dim=1))
    bound = 1 / v[0].numel() ** 0.5  # nn.ConvNd's kaiming-uniform bound, a = sqrt(5)
    assert float(v.detach().abs().max()) <= bound


def test_torchs_own_reset_keeps_the_weights_and_the_audit_s_does_not() -> None:
    """Why the audit re-initializes parametrized layers its own way: each seed must draw."""
    torch.manual_seed(0)
    theirs = weight_norm(nn.ConvTranspose1d(4, 4, 4, 2, 1))
    ours = copy.deepcopy(theirs)
    kept = [copy.deepcopy(m.weight.detach()) for m in (theirs, ours)]
    theirs.reset_parameters()
    reinitialize(ours)
    assert torch.equal(theirs.weight.detach(), kept[0])
    assert not torch.equal(ours.weight.detach(), kept[1])


def test_an_audit_sees_a_different_weight_per_seed() -> None:
    model = nn.Sequential(conv_transpose1d(True, 4, 4, 4, 2, 1), nn.Tanh())
    report = audit(model, (4, 256), seeds=3)
    assert len(set(report.seed_scores)) == 3
