"""The fixes the audit measures, all through convert(): resize-convolutions for upsamplers,
anti-aliasing for strided convolutions and pools."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from checkerscope.analysis import overlap_summary
from checkerscope.analysis.score import THRESHOLD
from checkerscope.auditing import audit
from checkerscope.auditing.fixes import fixed_model
from checkerscope.conversion import convert
from checkerscope.models import UNet
from checkerscope.nn import AntiAliasedConv2d


def strided_net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 16, 3, stride=2), nn.ReLU(), nn.Conv2d(16, 1, 3, stride=2))


def test_deconv_generator_is_flagged_and_its_conversion_scores_lower(dcgan_report) -> None:
    r = dcgan_report
    assert r.flagged and r.score > THRESHOLD and r.mode == "outputs"
    assert r.output_shape == (3, 32, 32) and len(r.seed_scores) == 3
    assert r.ci[0] < r.score < r.ci[1]
    assert r.fix is not None and not r.fix.flagged
    assert r.fix.score < r.score - 6  # measured on the same seeds and inputs
    assert r.fix.change == pytest.approx(r.fix.score - r.score)
    assert r.fix.replaced == ("main.0", "main.3", "main.6")


def test_unet_decoder() -> None:
    r = audit(UNet(base=8, depth=2), (3, 32, 32), seeds=2)
    kinds = {layer.name: layer.kind for layer in r.layers}
    assert kinds == {
        "down.0.0": "strided_conv",
        "down.1.0": "strided_conv",
        "up.0": "conv_transpose",
        "up.1": "conv_transpose",
    }
    by_name = {layer.name: layer for layer in r.layers}
    assert by_name["down.0.0"].overlap_ratio == overlap_summary((3, 2), (1, 1)).ratio == 4.0
    assert r.fix is not None and r.fix.replaced == ("up.0", "up.1")
    fixed = {layer.name: layer for layer in r.fix.layers}
    for name in ("up.0", "up.1"):
        assert fixed[name].score < by_name[name].score
    assert r.fix.score < r.score


def test_gradients_of_strided_convs_and_the_antialiased_fix() -> None:
    model = strided_net()
    r = audit(model, (3, 64, 64), seeds=3, gradients=True)
    assert r.mode == "gradients" and r.flagged
    assert [layer.kind for layer in r.layers] == ["strided_conv", "strided_conv"]
    for layer in r.layers:
        assert layer.overlap_ratio == 4.0  # the backward pass is a k3 s2 deconvolution
        assert layer.imbalance > 0.3
        assert layer.score > 6
    assert r.fix is not None and r.fix.replaced == ("0", "2")
    assert r.fix.score < r.score - 6
    for layer in r.fix.layers:
        assert layer.kind == "antialiased_conv" and layer.imbalance == 0.0  # binomial taps
        assert layer.score < 3


def test_a_shared_strided_conv_is_swapped_everywhere_by_one_replacement() -> None:
    # Held twice by the root and once by a second parent.
    shared = nn.Conv2d(3, 3, 3, stride=2, padding=1)
    model = nn.Sequential(shared, nn.ReLU(), shared, nn.Sequential(nn.ReLU(), shared))
    fixed, report = convert(model, transposed=False, downsample=True, return_report=True)
    assert [c.name for c in report.converted] == ["0"] and report.skipped == ()
    assert isinstance(fixed[0], AntiAliasedConv2d) and fixed[2] is fixed[0] is fixed[3][1]
    assert torch.equal(fixed[0].conv.weight, shared.weight)
    r = audit(model, (3, 32, 32), seeds=2, gradients=True)
    assert [layer.kind for layer in r.layers] == ["strided_conv"]
    assert r.fix is not None and r.fix.replaced == ("0",)
    assert [layer.kind for layer in r.fix.layers] == ["antialiased_conv"]  # none left behind
    assert model[0] is model[2] is model[3][1] is shared  # the caller's model is untouched


def test_what_cannot_be_fixed_is_said() -> None:
    model = nn.Sequential(nn.Conv3d(1, 1, 3, stride=2), nn.Conv2d(1, 1, 3, stride=(1, 2)))
    fixed, what, replaced, notes = fixed_model(model, "gradients", trained=False)
    assert fixed is None and what == "" and replaced == ()
    assert notes == [
        "left strided layer 0 (Conv3d, stride (2, 2, 2)) as it is: no anti-aliased 1-D/2-D "
        "equivalent",
        "left strided layer 1 (Conv2d, stride (1, 2)) as it is: no anti-aliased 1-D/2-D equivalent",
        "no strided Conv1d/2d, MaxPool1d/2d or AvgPool1d/2d to swap for anti-aliased downsampling",
    ]
    assert fixed_model(nn.Upsample(scale_factor=2), "outputs", trained=True)[3] == [
        "convert() found no strided ConvTranspose layer or convolution -> pixel shuffle pair "
        "to replace"
    ]


def test_pools_are_anti_aliased_too() -> None:
    """A classifier-like stack: the gradient audit's fix swaps the strided convolution for
    AntiAliasedConv2d, the max pool for MaxBlurPool2d and the average pool for a blur-pool,
    and the input gradient loses its checkerboard."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, padding=1),
        nn.AvgPool2d(2),
    )
    r = audit(model, (3, 64, 64), seeds=3, gradients=True)
    assert r.flagged
    assert [layer.kind for layer in r.layers] == ["strided_conv", "pool", "pool"]
    assert r.fix is not None and r.fix.replaced == ("0", "2", "4")
    assert r.fix.description.startswith("convert(model, transposed=False, downsample=True): 3 ")
    assert [layer.kind for layer in r.fix.layers] == ["antialiased_conv", "blurpool", "blurpool"]
    assert not r.fix.flagged and r.fix.score < r.score - 6
