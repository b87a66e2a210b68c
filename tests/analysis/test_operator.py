from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from checkerscope.analysis import operator_matrix, parameter_tying
from checkerscope.nn import ResizeConv1d, ResizeConv2d, ResizeConv3d, SubPixelConv2d

LAYERS = {
    "deconv1d k3 s2": (lambda: nn.ConvTranspose1d(2, 3, 3, 2), (5,)),
    "deconv2d k4 s2 p1": (lambda: nn.ConvTranspose2d(2, 3, 4, 2, 1), (4, 3)),
    "deconv2d groups dilation": (
        lambda: nn.ConvTranspose2d(4, 2, 3, 2, 1, output_padding=1, groups=2, dilation=2),
        (3, 4),
    ),
    "deconv3d": (lambda: nn.ConvTranspose3d(1, 2, 3, 2), (2, 3, 2)),
    "resize-conv1d nearest": (lambda: ResizeConv1d(2, 2, 3), (6,)),
    "resize-conv2d bilinear s3": (
        lambda: ResizeConv2d(2, 1, 3, scale_factor=3, mode="bilinear", padding_mode="zeros"),
        (3, 4),
    ),
    "resize-conv3d": (lambda: ResizeConv3d(1, 1, 2, padding_mode="replicate"), (2, 3, 2)),
    "sub-pixel blur": (lambda: SubPixelConv2d(2, 2, 3, blur=True, init="default"), (3, 4)),
    "strided conv": (lambda: nn.Conv2d(3, 2, 3, 2, 1, padding_mode="reflect"), (6, 5)),
    "upsample bilinear": (lambda: nn.Upsample(scale_factor=2, mode="bilinear"), (3, 4)),
    "chain": (
        lambda: nn.Sequential(nn.ConvTranspose2d(2, 2, 4, 2, 1), nn.Conv2d(2, 1, 3, padding=1)),
        (3, 3),
    ),
}


@pytest.mark.parametrize("name", LAYERS)
def test_operator_times_x_equals_the_forward(name):
    make, size = LAYERS[name]
    torch.manual_seed(0)
    layer = make()
    channels = next((m.in_channels for m in layer.modules() if hasattr(m, "in_channels")), 1)
    matrix = operator_matrix(layer, size)
    reference = copy.deepcopy(layer).double()
    x = torch.randn(1, channels, *size, dtype=torch.float64)
    with torch.no_grad():
        y = reference(x) - reference(torch.zeros_like(x))
    assert matrix.shape == (y.numel(), x.numel())
    assert matrix.dtype == torch.float64
    torch.testing.assert_close(matrix @ x.flatten(), y.flatten(), rtol=1e-10, atol=1e-12)


def test_bias_is_excluded_and_the_layer_is_left_alone():
    layer = nn.ConvTranspose1d(1, 1, 3, 2)
    with torch.no_grad():
        layer.bias.fill_(5.0)
    before = copy.deepcopy(layer.state_dict())
    matrix = operator_matrix(layer, 4)
    assert torch.equal(matrix @ torch.zeros(4, dtype=torch.float64), torch.zeros(9).double())
    for key, value in layer.state_dict().items():
        assert torch.equal(value, before[key])
    assert layer.weight.dtype == torch.float32


def test_a_deconvolution_matrix_holds_its_own_weights():
    """The article's matrix: each entry of a k3 s2 deconvolution is one of its three taps."""
    layer = nn.ConvTranspose1d(1, 1, 3, 2, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[[1.0, 2.0, 3.0]]]))
    matrix = operator_matrix(layer, 3)
    expected = torch.tensor(
        [[1, 0, 0], [2, 0, 0], [3, 1, 0], [0, 2, 0], [0, 3, 1], [0, 0, 2], [0, 0, 3]],
        dtype=torch.float64,
    )
    assert torch.equal(matrix, expected)


def test_nonlinear_layers_are_refused():
    with pytest.raises(ValueError, match="is not linear"):
        operator_matrix(nn.Sequential(nn.Conv2d(1, 1, 3), nn.ReLU()), 5)


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="input_size must be a positive integer, got 0"):
        operator_matrix(nn.ConvTranspose2d(1, 1, 3, 2), (4, 0))
    with pytest.raises(ValueError, match=r"input_size \(2, 2\) does not run through the layer"):
        operator_matrix(nn.Conv2d(1, 1, 5), 2)
    with pytest.raises(ValueError, match="more than 16777216 entries"):
        operator_matrix(nn.ConvTranspose2d(1, 1, 3, 2), 64)
    with pytest.raises(ValueError, match=r"layer must be a torch\.nn\.Module, got str"):
        operator_matrix("deconv", 4)


# Weight-tying.


def test_deconvolution_entries_are_free_parameters():
    tying = parameter_tying(nn.ConvTranspose2d(1, 1, 4, 2, 1), (4, 4))
    assert (tying.parameters, tying.free_parameters, tying.distinct_entries) == (16, 16, 16)
    assert not tying.tied
    assert tying.params_per_entry.max() == 1
    # Away from the borders each output reads 2 x 2 taps, each its own weight.
    rows = tying.params_per_row.reshape(8, 8)
    assert rows[2:-2, 2:-2].unique().tolist() == [4]


def test_nearest_resize_conv_ties_its_weights():
    # 1-D: outputs 2q and 2q+1 read w0 | w1 + w2 and w0 + w1 | w2 from inputs q-1, q (, q+1):
    # four distinct entries made of three free weights.
    one = parameter_tying(ResizeConv1d(1, 1, 3, padding_mode="zeros"), 6)
    assert (one.parameters, one.free_parameters, one.distinct_entries) == (3, 3, 4)
    assert one.tied
    assert one.params_per_entry.max() == 2
    # Every output away from the zero-padded ends depends on all three weights.
    assert one.params_per_row[1:-1].unique().tolist() == [3]
    two = parameter_tying(ResizeConv2d(1, 1, 3, padding_mode="zeros"), (5, 5))
    assert (two.parameters, two.free_parameters, two.distinct_entries) == (9, 9, 16)
    assert two.params_per_entry.max() == 4


def test_tying_counts_agree_with_the_matrix_of_random_weights():
    """Entries that one weight fills equal that weight; tied ones equal no single weight."""
    torch.manual_seed(1)
    for layer, tied in ((nn.ConvTranspose1d(1, 1, 5, 3), False), (ResizeConv1d(1, 1, 3), True)):
        tying = parameter_tying(layer, 5)
        matrix = operator_matrix(layer, 5)
        weights = layer.weight.detach().double().flatten()
        single = tying.params_per_entry == 1
        assert torch.isclose(matrix[single][:, None], weights[None]).any(1).all()
        assert (tying.params_per_entry > 1).any() == tied
        assert torch.equal(tying.params_per_entry > 0, matrix != 0)


def test_icnr_sub_pixel_has_free_entries():
    tying = parameter_tying(SubPixelConv2d(1, 1, 3), (3, 3))
    assert (tying.parameters, tying.free_parameters) == (36, 36)
    assert not tying.tied


def test_tying_needs_one_weighted_layer():
    with pytest.raises(ValueError, match="not linear in its weights"):
        parameter_tying(nn.Sequential(nn.ConvTranspose1d(1, 1, 3, 2), nn.Conv1d(1, 1, 3)), 4)
    with pytest.raises(ValueError, match="has no weights"):
        parameter_tying(nn.Upsample(scale_factor=2), (3, 3))
