"""The audit of sub-pixel models: a convolution -> pixel shuffle pair is blamed as one layer
(also in 1-D, where the shuffle is hand-written), its analytic numbers are those of the
sub-pixel layer it is, and the fix (ICNR through convert) takes the score under the threshold,
drawn fresh at every seed or projected from trained weights."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from checkerscope.analysis import phase_imbalance
from checkerscope.analysis.score import THRESHOLD
from checkerscope.auditing import audit
from checkerscope.auditing.layer_maths import kernel_and_stride, layer_imbalance, layer_reach
from checkerscope.auditing.subpixel import JoinedSubPixel, join_subpixel_pairs
from checkerscope.conversion import convert
from checkerscope.nn import SubPixelConv2d

from .sr_models import AttributeCalls, AudioSubPixel, EDSRLike, PixelShuffle1d, SRGANLike


@pytest.fixture(scope="module")
def sr_reports() -> dict[str, object]:
    torch.manual_seed(0)
    return {
        "srgan": audit(SRGANLike(), (3, 16, 16), seeds=4),
        "edsr": audit(EDSRLike(), (3, 16, 16), seeds=4),
    }


@pytest.mark.parametrize(
    ("key", "pairs"),
    [("srgan", ("upsample.0", "upsample.3")), ("edsr", ("tail.0", "tail.2"))],
)
def test_super_resolution_generators_blame_their_pairs_and_icnr_fixes_them(
    sr_reports, key, pairs
) -> None:
    r = sr_reports[key]
    assert r.flagged and r.score > THRESHOLD + 6
    assert [(layer.name, layer.kind) for layer in r.layers] == [(n, "subpixel") for n in pairs]
    assert max(layer.score for layer in r.layers) > THRESHOLD  # the last pair paints most
    assert all(layer.imbalance > 0.3 for layer in r.layers)  # independent phases
    fix = r.fix
    assert fix is not None and fix.replaced == pairs
    assert fix.description == (
        "convert(model, init='fresh', subpixel='icnr'): 2 sub-pixel pair(s) -> ICNR"
    )
    assert not fix.flagged and fix.score < r.score - 12
    for layer in fix.layers:
        assert layer.kind == "subpixel" and layer.imbalance == pytest.approx(0.0, abs=1e-12)
        assert layer.score < 3


def test_a_one_d_model_blames_its_pairs_not_its_strided_convolution() -> None:
    """Before pairs were joined, only the encoder's strided convolution was listed, so the
    audit of this flagged model blamed it; the hand-written shuffles are now found."""
    r = audit(AudioSubPixel(), (1, 256), seeds=3)
    assert r.flagged
    kinds = {layer.name: layer.kind for layer in r.layers}
    assert kinds == {"down": "strided_conv", "up1": "subpixel", "up2": "subpixel"}
    scores = {layer.name: layer.score for layer in r.layers}
    assert min(scores["up1"], scores["up2"]) > scores["down"] + 10
    assert r.fix is not None and r.fix.replaced == ("up1", "up2") and not r.fix.flagged


def test_trained_weights_are_projected_onto_icnr() -> None:
    torch.manual_seed(1)
    model = AttributeCalls()
    r = audit(model, (3, 32, 32), seeds=2, trained=True)
    assert r.flagged and r.fix.description.startswith("convert(model, init='project', ")
    assert r.fix.score < THRESHOLD < r.score
    assert isinstance(model.to_phases, nn.Conv2d)  # the caller's model is untouched


def test_a_joined_pair_reads_as_the_sub_pixel_layer_it_is() -> None:
    torch.manual_seed(2)
    layer = SubPixelConv2d(4, 3, kernel_size=5, scale_factor=3, init="default")
    joined = JoinedSubPixel(layer.conv, nn.PixelShuffle(3), 3, icnr=False)
    x = torch.randn(1, 4, 6, 6)
    torch.testing.assert_close(joined(x), layer(x))
    assert layer_imbalance(joined) == pytest.approx(phase_imbalance(layer).imbalance, abs=1e-12)
    assert kernel_and_stride(joined, (6, 6), (18, 18)) == ((5, 5), (3, 3))
    assert layer_reach(joined) == layer_reach(layer) == 15
    grouped = nn.Conv2d(4, 8 * 4, 3, padding=1, groups=2)
    as_layer = JoinedSubPixel(grouped, nn.PixelShuffle(2), 2, icnr=False)
    dense = nn.Conv2d(4, 8 * 4, 3, padding=1, bias=False)
    with torch.no_grad():  # the grouped weights, with zeros between the groups
        dense.weight.zero_()
        dense.weight[:16, :2] = grouped.weight[:16]
        dense.weight[16:, 2:] = grouped.weight[16:]
    expected = layer_imbalance(JoinedSubPixel(dense, nn.PixelShuffle(2), 2, icnr=False))
    assert layer_imbalance(as_layer) == pytest.approx(expected, abs=1e-12)


def test_joining_keeps_the_function_and_icnr_reset_draws_tied_phases() -> None:
    torch.manual_seed(3)
    model = AudioSubPixel()
    x = torch.randn(2, 1, 64)
    joined, pairs, notes = join_subpixel_pairs(AudioSubPixel())
    assert not joined.up1.icnr  # independent phases: re-initialized as nn.Conv1d does
    joined.up2.icnr = True
    joined.load_state_dict(
        {
            k.replace("up1.", "up1.conv.").replace("up2.", "up2.conv."): t
            for k, t in model.state_dict().items()
        }
    )
    torch.testing.assert_close(joined(x), model(x))
    assert [p.conv_name for p in pairs] == ["up1", "up2"] and notes == []
    assert isinstance(joined.shuffle1, nn.Identity) and isinstance(
        joined.up1.shuffle, PixelShuffle1d
    )
    joined.up2.reset_parameters()
    weight = joined.up2.conv.weight
    assert torch.equal(weight[0::2], weight[1::2])


def test_an_unpaired_shuffle_is_listed_with_why() -> None:
    class Untraceable(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 12, 3, padding=1)
            self.shuffle = nn.PixelShuffle(2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.shape[-1] > 100:
                raise ValueError("too wide")
            return self.shuffle(self.conv(x))

    r = audit(Untraceable(), (3, 16, 16), seeds=1)
    assert [layer.kind for layer in r.layers] == ["pixel_shuffle"]
    assert any(n.startswith("<root> (Untraceable) cannot be traced by torch.fx") for n in r.notes)


def test_a_model_converted_by_icnr_keeps_icnr_when_the_audit_redraws_it() -> None:
    torch.manual_seed(4)
    converted = convert(EDSRLike(), subpixel="icnr")
    r = audit(converted, (3, 16, 16), seeds=3)
    assert not r.flagged and r.fix is not None and not r.fix.flagged
