"""checkerscope.conversion.subpixel_pairs and .subpixel: which convolution -> pixel shuffle pairs
are found (and which are not), and convert(subpixel=...)'s fixes against independent
computations: ICNR is a nearest resize of one convolution, the projections are least-squares
optima through the real modules, a pair that is a resize-conv is reproduced exactly."""

from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from checkerscope.conversion import convert, find_subpixel_pairs
from checkerscope.conversion.subpixel_pairs import pixel_shuffle_reference, shuffle_scale
from checkerscope.functional.subpixel import icnr_weight, nearest_resize_conv_weight
from checkerscope.nn import ResizeConv1d, ResizeConv2d

from .lifting import delta_batch


class PixelShuffleNd(nn.Module):
    """A hand-written pixel shuffle in any rank, as 1-D (audio) and 3-D (volume) models have."""

    def __init__(self, factor: int) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, *sizes = x.shape
        d, r = len(sizes), self.factor
        y = x.reshape(n, c // r**d, *(r,) * d, *sizes)
        order = [0, 1, *(axis for a in range(d) for axis in (2 + d + a, 2 + a))]
        return y.permute(order).reshape(n, c // r**d, *(r * m for m in sizes))


class PhaseMajorShuffle1d(nn.Module):
    """A 1-D shuffle in the other channel order (channel i C + c), which ICNR's order is not."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, length = x.shape
        return x.view(n, 2, c // 2, length).permute(0, 2, 3, 1).reshape(n, c // 2, 2 * length)


class Attributes(nn.Module):
    """forward calls a convolution and a shuffle held as attributes, in order."""

    def __init__(self, dims: int = 2, scale: int = 2) -> None:
        super().__init__()
        conv = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[dims]
        self.features = conv(3, 4, 3, padding=1)
        self.to_phases = conv(4, 2 * scale**dims, 3, padding=1)
        self.shuffle = nn.PixelShuffle(scale) if dims == 2 else PixelShuffleNd(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.to_phases(torch.relu(self.features(x))))


class Untraceable(nn.Module):
    """Control flow on a shape defeats torch.fx; the Sequential inside still holds a pair."""

    def __init__(self) -> None:
        super().__init__()
        self.up = nn.Sequential(nn.Conv2d(3, 12, 3, padding=1), nn.PixelShuffle(2))
        self.conv = nn.Conv2d(3, 12, 3, padding=1)
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] > 100:
            raise ValueError("too wide")
        return self.up(x) + self.shuffle(self.conv(x))


def found(model: nn.Module) -> list[tuple[str, str, int, int]]:
    pairs, _ = find_subpixel_pairs(model)
    return [(p.conv_name, p.shuffle_name, p.scale_factor, p.dims) for p in pairs]


# --- detection -------------------------------------------------------------------------------


def test_pixel_shuffle_reference_is_torchs_in_2d_and_inverts_unshuffle() -> None:
    x = torch.randn(2, 3 * 9, 4, 5)
    torch.testing.assert_close(pixel_shuffle_reference(x, 3), F.pixel_shuffle(x, 3))
    v = torch.randn(1, 8 * 2, 3, 4, 5)
    y = pixel_shuffle_reference(v, 2)
    assert y.shape == (1, 2, 6, 8, 10)
    assert y[0, 1, 1, 0, 1] == v[0, 1 * 8 + 4 + 0 + 1, 0, 0, 0]  # phase (1, 0, 1) of channel 1


@pytest.mark.parametrize(
    ("module", "channels", "dims", "expected"),
    [
        (nn.PixelShuffle(2), 12, 2, 2),
        (nn.PixelShuffle(3), 18, 2, 3),
        (PixelShuffleNd(2), 6, 1, 2),
        (PixelShuffleNd(2), 16, 3, 2),
        (PhaseMajorShuffle1d(), 6, 1, None),  # another channel order
        (nn.PixelShuffle(2), 12, 1, None),  # a 2-D shuffle after a 1-D convolution
        (nn.Upsample(scale_factor=2), 12, 2, None),
        (nn.PixelUnshuffle(2), 12, 2, None),
        (nn.ReLU(), 12, 2, None),
        (nn.BatchNorm2d(12), 12, 2, None),  # has state: never probed
    ],
)
def test_a_shuffle_is_told_by_probing_it(module, channels, dims, expected) -> None:
    assert shuffle_scale(module, channels, dims) == expected


def test_pairs_in_sequentials_and_attribute_calls_are_found() -> None:
    espcn = nn.Sequential(
        nn.Conv2d(3, 8, 5, padding=2),
        nn.Tanh(),
        nn.Sequential(nn.Conv2d(8, 3 * 9, 3, padding=1), nn.PixelShuffle(3)),
    )
    assert found(espcn) == [("2.0", "2.1", 3, 2)]
    assert found(Attributes()) == [("to_phases", "shuffle", 2, 2)]
    assert found(Attributes(dims=1)) == [("to_phases", "shuffle", 2, 1)]
    assert found(Attributes(dims=3)) == [("to_phases", "shuffle", 2, 3)]
    assert found(nn.PixelShuffle(2)) == []


def test_what_is_not_a_pair_is_not_found() -> None:
    class Inline(nn.Module):  # the shuffle is code, not a module
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 12, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return F.pixel_shuffle(self.conv(x), 2)

    class SharedShuffle(nn.Module):  # the shuffle also serves a non-convolution
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 12, 3, padding=1)
            self.shuffle = nn.PixelShuffle(2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.shuffle(self.conv(x)) + self.shuffle(x.repeat(1, 4, 1, 1))

    class ConvUsedTwice(nn.Module):  # the convolution's output also goes elsewhere
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 12, 3, padding=1)
            self.shuffle = nn.PixelShuffle(2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.conv(x)
            return self.shuffle(y), y

    assert found(Inline()) == []
    assert found(SharedShuffle()) == []
    assert found(ConvUsedTwice()) == []
    between = nn.Sequential(nn.Conv2d(3, 12, 3, padding=1), nn.ReLU(), nn.PixelShuffle(2))
    assert found(between) == []
    strided = nn.Sequential(nn.Conv2d(3, 12, 3, stride=2, padding=1), nn.PixelShuffle(2))
    assert found(strided) == []
    assert found(nn.Sequential(nn.Conv1d(3, 6, 3, padding=1), PhaseMajorShuffle1d())) == []


def test_an_untraceable_model_is_searched_module_by_module_and_says_so() -> None:
    pairs, notes = find_subpixel_pairs(Untraceable())
    assert [(p.conv_name, p.shuffle_name) for p in pairs] == [("up.0", "up.1")]
    assert len(notes) == 1 and notes[0].startswith(
        "<root> (Untraceable) cannot be traced by torch.fx (TraceError: "
    )
    assert notes[0].endswith("; its sub-pixel pairs are looked for module by module")


def test_checkerscope_s_own_architectures_are_searched_its_layers_kept_whole() -> None:
    """The zoo's and models' classes live in checkerscope too: they are traced into (EDSR's
    pairs sit in its tail), while checkerscope's layers stay leaves."""
    from checkerscope.nn import ResizeConv2d
    from checkerscope.zoo import build

    assert found(build("edsr", n_feats=4)) == [
        ("tail.0", "tail.1", 2, 2),
        ("tail.2", "tail.3", 2, 2),
    ]
    inside = nn.Sequential(ResizeConv2d(3, 12, 3), nn.PixelShuffle(2))
    assert found(inside) == []  # a resize-conv is no convolution -> shuffle pair


def test_a_shared_pair_is_found_once() -> None:
    up = nn.Sequential(nn.Conv2d(4, 16, 3, padding=1), nn.PixelShuffle(2))
    model = nn.Sequential(up, nn.Conv2d(4, 4, 3, stride=2, padding=1), up)
    assert found(model) == [("0.0", "0.1", 2, 2)]


# --- ICNR ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_icnr_makes_the_pair_a_nearest_resize_of_one_convolution(dims: int) -> None:
    """Aitken et al.: with every phase equal to w0, shuffle(conv(x)) == nearest(conv(x, w0))."""
    torch.manual_seed(dims)
    model = Attributes(dims=dims).double()
    new, report = convert(model, subpixel="icnr", return_report=True)
    assert [(c.name, c.kind) for c in report.converted] == [("to_phases", "subpixel")]
    assert list(new.state_dict()) == list(model.state_dict())  # the structure is kept
    conv = new.to_phases
    w0, b0 = conv.weight[:: 2**dims], conv.bias[:: 2**dims]
    torch.testing.assert_close(conv.weight, icnr_weight(w0, 2), rtol=0, atol=0)
    x = torch.randn(2, 4, *(5, 6, 4)[:dims], dtype=torch.float64)
    pair = new.shuffle(conv(x))
    conv_nd = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[dims]
    nearest = F.interpolate(conv_nd(x, w0, b0, padding=1), scale_factor=2.0, mode="nearest")
    torch.testing.assert_close(pair, nearest)
    assert 1.0 < report.converted[0].residual < 2.0  # fresh: unrelated to the old weights


def test_icnr_projection_is_the_least_squares_optimum_and_its_residual() -> None:
    """Brute force through the real modules: over impulse inputs, the tied sub-kernel that the
    projection picks has zero gradient of the squared distance to the old pair's responses,
    and the residual is that distance relative to the old responses."""
    torch.manual_seed(3)
    model = nn.Sequential(nn.Conv2d(3, 2 * 4, 3, padding=1, bias=False), nn.PixelShuffle(2))
    model = model.double()
    new, report = convert(model, subpixel="icnr", init="project", return_report=True)
    x = delta_batch(3, 9, 2)
    old = model(x).detach()
    w0 = new[0].weight[::4].detach().clone().requires_grad_(True)
    responses = F.pixel_shuffle(F.conv2d(x, icnr_weight(w0, 2), padding=1), 2)
    loss = ((responses - old) ** 2).sum()
    (grad,) = torch.autograd.grad(loss, w0)
    assert grad.abs().max() < 1e-12
    assert report.converted[0].residual == pytest.approx((loss.sqrt() / old.norm()).item())
    torch.testing.assert_close(w0, model[0].weight.unflatten(0, (2, 4)).mean(1))


def test_icnr_through_a_weight_norm_parametrization() -> None:
    conv = nn.utils.parametrizations.weight_norm(nn.Conv2d(3, 12, 3, padding=1))
    new = convert(nn.Sequential(conv, nn.PixelShuffle(2)), subpixel="icnr")
    weight = new[0].weight  # the effective weight, recomputed from the parametrization
    torch.testing.assert_close(weight, icnr_weight(weight[::4], 2))


def test_icnr_refuses_groups_that_split_the_phases() -> None:
    model = nn.Sequential(nn.Conv2d(4, 8, 3, padding=1, groups=4), nn.PixelShuffle(2))
    with pytest.raises(
        ValueError,
        match=re.escape(
            "cannot fix sub-pixel pair '0' -> '1' by ICNR: groups=4 splits the 4 phases of an "
            "output channel between groups"
        ),
    ):
        convert(model, subpixel="icnr", inplace=True)
    grouped = nn.Sequential(nn.Conv2d(4, 16, 3, padding=1, groups=2), nn.PixelShuffle(2))
    convert(grouped, subpixel="icnr")  # 8 channels a group: each channel's 4 phases in one


# --- replacement by a resize-convolution -----------------------------------------------------


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_resize_conv_replacement_keeps_every_shape(dims: int) -> None:
    model = Attributes(dims=dims, scale=2 if dims == 3 else 3)
    new, report = convert(model, subpixel="resize_conv", kernel_size=None, return_report=True)
    assert isinstance(new.shuffle, nn.Identity)
    assert new.to_phases.scale_factor == (2 if dims == 3 else 3)
    assert new.to_phases.kernel_size == (3,) * dims
    assert report.converted[0].replacement.endswith(" + Identity()")
    for n in (3, 4, 7):
        x = torch.randn(1, 3, *(n, n + 1, n + 2)[:dims])
        assert new(x).shape == model(x).shape


@pytest.mark.filterwarnings("ignore:Using padding='same'")  # even k: torch pads a copy
@pytest.mark.parametrize(
    ("dims", "k", "s", "k_new", "mode"),
    [
        (2, 3, 2, 3, "nearest"),
        (2, 3, 2, 5, "bilinear"),
        (1, 5, 3, 4, "nearest"),
        (2, 4, 2, 3, "nearest"),
    ],
)
def test_resize_conv_projection_is_the_least_squares_optimum(dims, k, s, k_new, mode) -> None:
    torch.manual_seed(k * s)
    conv = {1: nn.Conv1d, 2: nn.Conv2d}[dims](3, 2 * s**dims, k, padding="same", bias=False)
    shuffle = nn.PixelShuffle(s) if dims == 2 else PixelShuffleNd(s)
    model = nn.Sequential(conv, shuffle).double()
    new = convert(model, subpixel="resize_conv", init="project", kernel_size=k_new, mode=mode)
    x = delta_batch(3, 2 * (k + k_new) // s + 9, dims)
    old = model(x).detach()
    loss = ((new(x) - old) ** 2).sum()
    (grad,) = torch.autograd.grad(loss, new[0].weight)
    assert grad.abs().max() < 1e-9 * old.abs().max()
    assert new[0].projection_residual == pytest.approx((loss.sqrt() / old.norm()).item(), rel=1e-9)
    assert 0 < new[0].projection_residual < 1


@pytest.mark.parametrize(("dims", "k", "s"), [(1, 3, 2), (2, 3, 2), (2, 3, 3), (2, 5, 2)])
def test_an_icnr_pair_is_projected_onto_its_resize_conv_exactly(dims, k, s) -> None:
    """An ICNR pair IS a nearest resize-conv (kernel w0 dilated by s): the projection finds it
    (residual ~0) and, with zero padding on both sides, computes the same function."""
    torch.manual_seed(dims * k * s)
    conv = {1: nn.Conv1d, 2: nn.Conv2d}[dims](3, 2 * s**dims, k, padding=k // 2)
    shuffle = nn.PixelShuffle(s) if dims == 2 else PixelShuffleNd(s)
    model = convert(nn.Sequential(conv, shuffle).double(), subpixel="icnr")
    size = s * (k - 1) + 1
    new = convert(
        model,
        subpixel="resize_conv",
        init="project",
        kernel_size=size,
        padding_mode="zeros",
    )
    assert new[0].projection_residual < 1e-12
    w0 = model[0].weight[:: s**dims]
    torch.testing.assert_close(new[0].weight, nearest_resize_conv_weight(w0, s), atol=1e-12, rtol=0)
    x = torch.randn(2, 3, *(6, 7)[:dims], dtype=torch.float64)
    torch.testing.assert_close(new(x), model(x), atol=1e-12, rtol=0)


def test_resize_conv_refuses_what_it_cannot_keep() -> None:
    valid = nn.Sequential(nn.Conv2d(3, 12, 3), nn.PixelShuffle(2))  # L -> L - 2
    with pytest.raises(
        ValueError,
        match=re.escape(
            "cannot fix sub-pixel pair '0' -> '1' by a resize-convolution: its convolution "
            "(kernel_size=(3, 3), padding=(0, 0), dilation=(1, 1)) changes the size, which a "
            "resize-convolution keeps (subpixel='icnr' keeps the layer)"
        ),
    ):
        convert(valid, subpixel="resize_conv")
    grouped = nn.Sequential(nn.Conv2d(4, 16, 3, padding=1, groups=2), nn.PixelShuffle(2))
    with pytest.raises(ValueError, match=re.escape("groups=2; ResizeConv supports groups=1")):
        convert(grouped, subpixel="resize_conv")
    lazy = nn.Sequential(nn.LazyConv2d(12, 3, padding=1), nn.PixelShuffle(2))
    with pytest.raises(ValueError, match=re.escape("its parameters are uninitialized")):
        convert(lazy, subpixel="resize_conv")


def test_an_error_leaves_an_inplace_model_untouched() -> None:
    model = nn.Sequential(
        nn.Conv2d(3, 12, 3, padding=1),
        nn.PixelShuffle(2),
        nn.Conv2d(3, 12, 3),
        nn.PixelShuffle(2),
    )
    before = {k: t.clone() for k, t in model.state_dict().items()}
    with pytest.raises(ValueError, match="changes the size"):
        convert(model, subpixel="resize_conv", inplace=True)
    assert isinstance(model[0], nn.Conv2d) and isinstance(model[1], nn.PixelShuffle)
    assert all(torch.equal(before[k], t) for k, t in model.state_dict().items())


def test_report_and_types() -> None:
    model = nn.Sequential(nn.Conv1d(2, 6, 3, padding=1), PixelShuffleNd(3))
    new, report = convert(model, subpixel="resize_conv", return_report=True)
    assert isinstance(new[0], ResizeConv1d) and new(torch.randn(1, 2, 5)).shape == (1, 2, 15)
    (entry,) = report.converted
    assert (entry.name, entry.kind) == ("0", "subpixel")
    assert (
        entry.original == "Conv1d(2, 6, kernel_size=(3,), stride=(1,), padding=(1,)) + "
        "PixelShuffleNd()"
    )
    assert "relative operator residual" in str(report)
    two_d = convert(
        nn.Sequential(nn.Conv2d(2, 8, 3, padding=1), nn.PixelShuffle(2)), subpixel="resize_conv"
    )
    assert isinstance(two_d[0], ResizeConv2d)
