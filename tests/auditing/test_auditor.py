"""audit() itself: its arguments, the caller's model and random state, and what it notes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import checkerscope
from checkerscope.auditing import AuditReport, audit


def test_the_package_keeps_the_public_names() -> None:
    assert checkerscope.audit is audit and checkerscope.AuditReport is AuditReport


def test_the_report_describes_the_run(dcgan, dcgan_report) -> None:
    # The fixture checks that the caller's model and the global random state are untouched.
    assert dcgan_report.model == type(dcgan).__name__ and dcgan_report.seeds == 3
    assert dcgan_report.samples.shape == (4, 3, 32, 32)


def test_model_without_upsampling_says_so() -> None:
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 3, 3, padding=1))
    r = audit(model, (3, 16, 16), seeds=2)
    assert r.layers == () and r.fix is None
    assert any(n.startswith("no upsampling or strided layer found") for n in r.notes)
    assert "no upsampling or strided layer found" in str(r)


class Branches(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.used = nn.ConvTranspose2d(2, 2, 4, 2, 1)
        self.unused = nn.Upsample(scale_factor=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.used(x)


def test_a_layer_forward_never_calls_is_noted() -> None:
    r = audit(Branches(), (2, 8, 8), seeds=2)
    assert [layer.name for layer in r.layers] == ["used"]
    assert "layer unused was not called by forward" in r.notes


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model": "not a model"}, "model must be a torch.nn.Module, got str"),
        ({"input_shape": (3, 0, 8)}, r"input_shape must hold positive integers.*\(3, 0, 8\)"),
        ({"input_shape": "3,8,8"}, "input_shape must be a positive int or a non-empty tuple"),
        ({"seeds": 0}, "seeds must be a positive integer, got 0"),
        ({"seeds": []}, r"seeds must be a positive int or a non-empty sequence .*got \[\]"),
        ({"seeds": [3, 3]}, r"sequence of distinct non-negative ints, got \[3, 3\]"),
        ({"seeds": [1, -2]}, r"sequence of distinct non-negative ints, got \[1, -2\]"),
        ({"trained": "yes"}, "trained must be True or False, got 'yes'"),
        ({"batch": 1}, "batch must be at least 2 with trained=False"),
        ({"device": "gpu:x"}, "device must be a torch device"),
    ],
)
def test_bad_arguments_are_named(kwargs: dict, message: str) -> None:
    args = {"model": nn.Upsample(scale_factor=2), "input_shape": (1, 8, 8), "seeds": 1} | kwargs
    with pytest.raises(ValueError, match=message):
        audit(**args)


def test_given_seeds_are_those_of_the_count_s_range() -> None:
    """``seeds=[2, 0]`` audits seeds 2 and 0: the same per-seed scores as ``seeds=3`` gives
    them, in the order given, for the model and its fix."""
    from checkerscope.models import DCGANGenerator

    g = DCGANGenerator(nz=8, ngf=4, image_size=16)
    three, chosen = audit(g, (8,), seeds=3), audit(g, (8,), seeds=[2, 0])
    assert chosen.seeds == 2
    assert chosen.seed_scores == (three.seed_scores[2], three.seed_scores[0])
    assert three.fix is not None and chosen.fix is not None
    assert chosen.fix.seed_scores == (three.fix.seed_scores[2], three.fix.seed_scores[0])
