"""A layer's analytic numbers in the audit, against the analysis module that defines them."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from checkerscope import convert
from checkerscope.analysis import overlap_summary, phase_imbalance
from checkerscope.auditing import audit
from checkerscope.auditing.layer_maths import (
    interior,
    kernel_and_stride,
    layer_imbalance,
    layer_overlap_ratio,
    layer_reach,
)
from checkerscope.conversion import BlurredAvgPool
from checkerscope.nn import AntiAliasedConv2d, BlurPool2d, MaxBlurPool2d, SubPixelConv2d


def strided_net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 16, 3, stride=2), nn.ReLU(), nn.Conv2d(16, 1, 3, stride=2))


def test_layers_are_named_as_in_named_modules_with_analytic_numbers(dcgan, dcgan_report) -> None:
    modules = dict(dcgan.named_modules())
    layers = dcgan_report.layers
    assert [layer.name for layer in layers] == ["main.0", "main.3", "main.6"]
    for layer in layers:
        m = modules[layer.name]
        assert layer.kind == "conv_transpose" and isinstance(m, nn.ConvTranspose2d)
        k, s = m.kernel_size[0], m.stride[0]
        assert layer.overlap_ratio == overlap_summary((k, s), (1, 1)).ratio == 1.0  # k=4, s=2
        assert layer.imbalance > 0.3  # even overlap, yet random weights are unbalanced
        assert layer.output_size == tuple(2 * n for n in layer.input_size)
    assert layers[-1].score > 6  # the last deconvolution paints most of it
    fixed = {layer.name: layer for layer in dcgan_report.fix.layers}
    for layer in layers:
        assert fixed[layer.name].kind == "resize_conv"
        assert fixed[layer.name].imbalance == 0.0 and fixed[layer.name].overlap_ratio == 1.0
    assert fixed["main.6"].score < layers[-1].score - 6


def test_imbalance_is_that_of_phase_imbalance_in_trained_mode() -> None:
    model = strided_net()
    r = audit(model, (3, 32, 32), seeds=1, trained=True, gradients=True)
    assert r.layers[0].imbalance == phase_imbalance(model[0]).imbalance


def test_a_blur_is_read_as_the_strided_binomial_convolution_it_is() -> None:
    blur = BlurPool2d(1, stride=2, filter_size=4)
    conv = nn.Conv2d(1, 1, 4, stride=2, padding=1, bias=False)
    with torch.no_grad():
        taps = torch.tensor([1.0, 3.0, 3.0, 1.0]) / 8
        conv.weight.copy_(torch.outer(taps, taps))
    assert layer_imbalance(blur) == pytest.approx(phase_imbalance(conv).imbalance, abs=1e-12)
    assert layer_imbalance(AntiAliasedConv2d(2, 2, filter_size=4)) == layer_imbalance(blur)
    assert layer_overlap_ratio(blur, (8, 8), 1) == overlap_summary((4, 2), (1, 1)).ratio


@pytest.mark.parametrize(
    ("layer", "in_size", "out_size", "expected"),
    [
        (nn.Conv1d(1, 1, 5, stride=3), (30,), (9,), ((5,), (3,))),
        (nn.MaxPool2d(3, 2), (9, 9), (4, 4), ((3, 3), (2, 2))),
        (SubPixelConv2d(2, 2, 5, 3), (4, 4), (12, 12), ((5, 5), (3, 3))),
        (convert(nn.ConvTranspose2d(2, 2, 3, 2, 1)), (4, 4), (7, 7), ((3, 3), (2, 2))),
        (BlurPool2d(2, stride=2, filter_size=5), (8, 8), (4, 4), ((5, 5), (2, 2))),
        (MaxBlurPool2d(None, (3, 2), stride=2), (9, 9), (4, 4), ((3, 2), (2, 2))),
        (BlurredAvgPool(2, (2, 3), (2, 3)), (8, 9), (4, 3), ((2, 3), (2, 3))),
        (nn.PixelShuffle(2), (4, 4), (8, 8), (None, (2, 2))),
        (nn.Upsample(size=(6, 9)), (4, 4), (6, 9), (None, None)),
    ],
)
def test_kernel_and_stride(layer, in_size, out_size, expected) -> None:
    assert kernel_and_stride(layer, in_size, out_size) == expected


def test_reach_and_interior() -> None:
    assert layer_reach(nn.Conv2d(1, 1, 3, stride=2, dilation=2)) == 2 * 2 + 2
    assert layer_reach(SubPixelConv2d(1, 1, 3, 2)) == 6
    assert layer_reach(AntiAliasedConv2d(1, 1, 3, filter_size=4)) == 2 + 2 + 4
    x = torch.arange(40.0).reshape(1, 1, 40)
    assert torch.equal(interior(x, reach=2), x[..., 5:35])  # 40 // 8 beats the reach
    assert torch.equal(interior(x, reach=7), x[..., 7:33])
    assert interior(x, reach=30).shape[-1] == 4  # at least 4 are kept


def test_max_blur_pool_and_blurred_avg_pool_read_as_their_strided_low_pass() -> None:
    """MaxBlurPool sends its gradient back through its blur (the stride-1 max only routes
    it), so it reads as BlurPool; a blurred AvgPool(2) reads as the 4-tap binomial it is."""
    blur = BlurPool2d(1, stride=2, filter_size=3)
    max_blur = MaxBlurPool2d(None, 2, stride=2, filter_size=3)
    assert layer_imbalance(max_blur) == layer_imbalance(blur) == 0.0
    assert layer_overlap_ratio(max_blur, (8, 8), 1) == layer_overlap_ratio(blur, (8, 8), 1)
    assert layer_reach(max_blur) == 1 + 2 + 3
    avg = BlurredAvgPool(2, 2, 2)
    four = BlurPool2d(1, stride=2, filter_size=4)
    assert layer_imbalance(avg) == pytest.approx(layer_imbalance(four), abs=1e-12)
    assert layer_overlap_ratio(avg, (8, 8), 1) == layer_overlap_ratio(four, (8, 8), 1)
    uneven = BlurredAvgPool(1, 3, 3, filter_size=1)  # a bare box of 3 at stride 3: even
    assert layer_imbalance(uneven) == pytest.approx(0.0, abs=1e-12)
    skewed = BlurredAvgPool(1, 1, 2, filter_size=2)  # taps [1/2, 1/2] at stride 2: even too
    assert layer_imbalance(skewed) == pytest.approx(0.0, abs=1e-12)
