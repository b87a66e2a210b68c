"""Which layers the audit looks at, by kind, and how it names them."""

from __future__ import annotations

import pytest
from torch import nn

from checkerscope import convert
from checkerscope.auditing import find_layers, layer_kind
from checkerscope.auditing.subpixel import JoinedSubPixel
from checkerscope.conversion import BlurredAvgPool
from checkerscope.nn import (
    AntiAliasedConv2d,
    BlurPool1d,
    MaxBlurPool1d,
    MaxBlurPool2d,
    ResizeConv2d,
    SubPixelConv1d,
    SubPixelConv2d,
    SubPixelConv3d,
)


@pytest.mark.parametrize(
    ("layer", "kind"),
    [
        (nn.ConvTranspose2d(4, 4, 4, 2, 1), "conv_transpose"),
        (nn.ConvTranspose3d(4, 4, 3, (1, 1, 2)), "conv_transpose"),
        (nn.ConvTranspose1d(4, 4, 3, 1, 1), None),
        (nn.Conv1d(4, 4, 3, stride=2), "strided_conv"),
        (nn.Conv2d(4, 4, 3, stride=(1, 2)), "strided_conv"),
        (nn.Conv2d(4, 4, 3), None),
        (nn.MaxPool2d(2), "pool"),
        (nn.AvgPool3d(2), "pool"),
        (nn.AvgPool1d(3, stride=1), None),
        (nn.AdaptiveAvgPool2d(1), None),
        (ResizeConv2d(4, 4), "resize_conv"),
        (convert(nn.ConvTranspose2d(4, 4, 3, 2, 1)), "resize_conv"),  # a ResizeConvAdapter
        (SubPixelConv2d(4, 4), "subpixel"),
        (SubPixelConv1d(4, 4), "subpixel"),
        (SubPixelConv3d(4, 4), "subpixel"),
        (AntiAliasedConv2d(4, 4), "antialiased_conv"),
        (BlurPool1d(4), "blurpool"),
        (BlurPool1d(4, stride=1), None),
        (MaxBlurPool2d(None), "blurpool"),
        (MaxBlurPool1d(4, 3, stride=1, padding=1), None),
        (BlurredAvgPool(2, 2, 2), "blurpool"),
        (BlurredAvgPool(1, 3, 1, 1), None),
        (JoinedSubPixel(nn.Conv2d(4, 16, 3, padding=1), nn.PixelShuffle(2), 2, False), "subpixel"),
        (nn.Upsample(scale_factor=2, mode="bilinear"), "upsample_bilinear"),
        (nn.PixelShuffle(2), "pixel_shuffle"),
        (nn.PixelShuffle(1), None),
        (nn.ReLU(), None),
    ],
)
def test_layer_kind(layer: nn.Module, kind: str | None) -> None:
    assert layer_kind(layer) == kind


def test_find_layers_lists_outermost_layers_once_by_their_first_name() -> None:
    shared = nn.Conv2d(4, 4, 3, stride=2, padding=1)
    model = nn.Sequential(
        nn.Sequential(shared, nn.ReLU()),
        SubPixelConv2d(4, 4),  # its inner conv is not listed again
        nn.ModuleDict({"again": shared, "up": nn.Upsample(scale_factor=2)}),
    )
    found = find_layers(model)
    assert [name for name, _ in found] == ["0.0", "1", "2.up"]
    assert found[0][1] is shared
    assert find_layers(shared) == [("", shared)]
