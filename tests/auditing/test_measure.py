"""Measuring over seeds: the audit's scores against the score module, re-initialization, the
per-layer comparison with a nearest-resized reference, and models that fail."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from checkerscope.analysis import gradient_checkerboard, overlap_summary
from checkerscope.analysis.score import checkerboard_score
from checkerscope.auditing import audit
from checkerscope.auditing.reinitialization import kept_parameters
from checkerscope.models import AudioUpsampler1d, DCGANGenerator, StridedClassifier, UNet
from checkerscope.nn import SubPixelConv2d


class StyleBlock(nn.Module):
    """StyleGAN-like: nearest x2, 3x3 conv, per-pixel noise with a learned strength, norm."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.act = nn.LeakyReLU(0.2)
        self.norm = nn.InstanceNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(self.up(x))
        return self.norm(self.act(x + self.noise_strength * torch.randn_like(x[:, :1])))


class StyleGenerator(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.b1, self.b2 = StyleBlock(16, 16), StyleBlock(16, 8)
        self.to_rgb = nn.Conv2d(8, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.to_rgb(self.b2(self.b1(x)))


def test_trained_audit_scores_exactly_what_the_score_module_gives(dcgan) -> None:
    report = audit(dcgan, (16, 1, 1), seeds=1, trained=True, batch=3)
    x = torch.randn(3, 16, 1, 1, generator=torch.Generator().manual_seed(0))
    model = dcgan.eval()
    with torch.no_grad():
        expected = checkerboard_score(model(x)).mean()
    dcgan.train()
    assert report.seed_scores[0] == pytest.approx(float(expected), rel=1e-5)
    assert report.ci[0] != report.ci[0]  # one seed: no interval (nan)
    # Trained weights are carried over by least squares, so the comparison is about them.
    assert report.fix.description.startswith("convert(model, init='project')")


def test_gradient_score_is_exactly_gradient_checkerboard() -> None:
    model = StridedClassifier(width=4, stages=2).eval()
    r = audit(model, (3, 32, 32), seeds=1, trained=True, batch=2, gradients=True)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    expected = float(gradient_checkerboard(model, x).mean())
    assert r.seed_scores[0] == pytest.approx(expected, rel=1e-5)


def test_volumes_are_scored_as_stacks_of_slices() -> None:
    model = nn.Sequential(nn.ReLU(), nn.ConvTranspose3d(2, 1, 3, 2, 1, output_padding=1))
    r = audit(model, (2, 4, 8, 8), seeds=2)
    assert r.output_shape == (1, 8, 16, 16)
    assert [(layer.kind, layer.kernel_size, layer.stride) for layer in r.layers] == [
        ("conv_transpose", (3, 3, 3), (2, 2, 2))
    ]
    assert r.layers[0].overlap_ratio == overlap_summary((3, 2), (1, 1, 1)).ratio == 8.0
    assert r.fix is not None and r.fix.layers[0].kind == "resize_conv"


def test_audio_upsampler_is_scored_in_1d() -> None:
    r = audit(AudioUpsampler1d(4, channels=8), (4, 32), seeds=3)
    assert r.output_shape == (1, 256)
    assert [layer.kind for layer in r.layers] == ["conv_transpose"] * 3
    assert r.flagged and r.fix is not None and r.fix.score < r.score - 6


def test_untrained_audit_reinitializes_so_the_given_weights_do_not_matter() -> None:
    g = DCGANGenerator(nz=8, ngf=4, image_size=16)
    first = audit(g, (8,), seeds=2)
    with torch.no_grad():
        for p in g.parameters():
            p.mul_(-3.0).add_(0.5)
    again = audit(g, (8,), seeds=2)
    assert again.seed_scores == first.seed_scores
    assert audit(g, (8,), seeds=2, trained=True).seed_scores != first.seed_scores


def test_subpixel_icnr_keeps_its_initialization_on_reset() -> None:
    # Children are reset before parents: the conv's own reset must not undo ICNR.
    r = audit(nn.Sequential(SubPixelConv2d(8, 3)), (8, 16, 16), seeds=2)
    assert r.layers[0].kind == "subpixel" and r.layers[0].imbalance == pytest.approx(0, abs=1e-12)
    plain = audit(nn.Sequential(SubPixelConv2d(8, 3, init="default")), (8, 16, 16), seeds=2)
    assert plain.layers[0].imbalance > 0.1


def test_stylegan_like_nearest_upsampling_adds_exactly_nothing() -> None:
    r = audit(StyleGenerator(), (16, 8, 8), seeds=2)
    assert [(layer.name, layer.kind) for layer in r.layers] == [
        ("b1.up", "upsample_nearest"),
        ("b2.up", "upsample_nearest"),
    ]
    # A nearest resize is its own reference: the difference is zero, not merely small.
    assert all(layer.score == 0.0 and layer.overlap_ratio == 1.0 for layer in r.layers)
    assert not r.flagged and r.fix is None
    assert any("found no strided ConvTranspose" in n for n in r.notes)
    assert any("b1.noise_strength" in n and "keep their values" in n for n in r.notes)


def test_kept_parameters_are_those_without_a_reset() -> None:
    assert kept_parameters(StyleGenerator()) == ["b1.noise_strength", "b2.noise_strength"]


@pytest.mark.parametrize(
    ("model", "shape", "message"),
    [
        (UNet(base=4, depth=2), (3, 30, 30), r"fails on input_shape \(3, 30, 30\).*divisible by 4"),
        (DCGANGenerator(nz=16, ngf=4, image_size=16), (8,), r"fails on input_shape \(8,\)"),
        (nn.Conv2d(3, 4, 5), (3, 2, 2), r"fails on input_shape \(3, 2, 2\).*Kernel size"),
        (StridedClassifier(width=4), (3, 16, 16), r"shape \(4, 10\).*use gradients=True"),
    ],
)
def test_a_model_that_fails_names_the_shape(model: nn.Module, shape: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        audit(model, shape, seeds=1)
