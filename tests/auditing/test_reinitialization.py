"""Re-initialization under torch parametrizations: every seed draws new weights, as a newly
built layer would, and the originals a reset derives are not reported as kept."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm, weight_norm

from checkerscope import audit
from checkerscope.auditing.reinitialization import kept_parameters, reinitialize

WRAPS = {"weight_norm": weight_norm, "spectral_norm": spectral_norm}


def generator(wrap: Callable[[nn.Module], nn.Module] | None, depth: int = 2) -> nn.Module:
    """A transposed-convolution upsampler, its layers wrapped by ``wrap`` (or plain)."""
    layers: list[nn.Module] = []
    for i in range(depth):
        up = nn.ConvTranspose1d(4, 4 if i < depth - 1 else 2, 3 + i % 2, 2, 1, 1 - i % 2)
        layers += [up if wrap is None else wrap(up), nn.LeakyReLU(0.2)]
    return nn.Sequential(*layers[:-1], nn.Tanh())


def state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("wrap", WRAPS)
def test_a_reset_draws_what_a_newly_built_model_draws(wrap: str) -> None:
    model = generator(WRAPS[wrap], depth=1)
    for seed in (3, 4):
        torch.manual_seed(seed)
        reinitialize(model)
        torch.manual_seed(seed)
        fresh = generator(WRAPS[wrap], depth=1)  # weight, bias, then the wrap's own draws
        got, want = state(model), state(fresh)
        assert got.keys() == want.keys()
        for key in want:
            torch.testing.assert_close(got[key], want[key], rtol=0, atol=0, msg=key)


@pytest.mark.parametrize("wrap", WRAPS)
def test_every_seed_gets_new_weights(wrap: str) -> None:
    model = generator(WRAPS[wrap])
    weights = []
    for seed in range(3):
        torch.manual_seed(seed)
        reinitialize(model)
        weights.append(model[0].parametrizations.weight.original0.detach().clone()
                       if wrap == "weight_norm" else
                       model[0].parametrizations.weight.original.detach().clone())  # fmt: skip
    assert not torch.equal(weights[0], weights[1]) and not torch.equal(weights[1], weights[2])


def test_a_weight_normed_model_audits_as_its_plain_twin() -> None:
    """At initialization weight normalisation is the identity (g = ||v||): with every seed
    re-drawn, the two audits see the same functions and score the same."""
    wn = audit(generator(weight_norm), (4, 256), seeds=3)
    plain = audit(generator(None), (4, 256), seeds=3)
    assert wn.seed_scores == pytest.approx(plain.seed_scores, abs=1e-4)
    assert not any("keep their values" in n for n in wn.notes)
    assert wn.fix is not None and plain.fix is not None
    assert wn.fix.seed_scores == pytest.approx(plain.fix.seed_scores, abs=1e-4)


def test_a_spectral_normed_model_is_redrawn_per_seed_and_left_unchanged() -> None:
    model = generator(spectral_norm)
    before = state(model)
    report = audit(model, (4, 256), seeds=3, gradients=False)
    assert len(set(report.seed_scores)) == 3
    assert not any("keep their values" in n for n in report.notes)
    after = state(model)
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_originals_are_not_kept_but_a_parametrization_s_own_parameters_are() -> None:
    class Gain(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gain = nn.Parameter(torch.ones(()))

        def forward(self, w: torch.Tensor) -> torch.Tensor:
            return self.gain * w

    conv = nn.Conv1d(2, 2, 3)
    torch.nn.utils.parametrize.register_parametrization(conv, "weight", Gain())
    assert kept_parameters(nn.Sequential(conv)) == ["0.parametrizations.weight.0.gain"]
    assert kept_parameters(nn.Sequential(weight_norm(nn.Conv1d(2, 2, 3)))) == []
