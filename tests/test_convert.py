"""checkerscope.convert: shapes, alignment, least-squares projection, model surgery, errors.

The strongest checks compare against ``nn.ConvTranspose`` itself: a deconvolution whose
kernel is the lift of a resize-conv kernel must be reproduced exactly by the converted
layer, and the projection must satisfy the least-squares optimality condition computed by
autograd through the two real modules.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import checkerscope
from checkerscope.convert import (
    ConversionReport,
    ResizeConvAdapter,
    convert,
    projection_residual,
)
from checkerscope.models import DCGANGenerator, UNet
from checkerscope.nn.resize_conv import _ResizeConvNd

DECONV = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}


def resize_part(m: nn.Module) -> _ResizeConvNd:
    return m.resize if isinstance(m, ResizeConvAdapter) else m


def lift_1d(w: np.ndarray, s: int) -> np.ndarray:
    """The deconvolution kernel (length s + k - 1) equal to nearest-resize by s then conv with w.

    Nearest upsampling turns one input pixel into a box of s ones; the convolution (a
    cross-correlation) then paints that box with the reversed kernel.
    """
    return np.convolve(np.ones(s), w[::-1])


def lifted_deconv(w: torch.Tensor, s: int, p: int, op: int) -> nn.Module:
    """ConvTranspose (C_in, C_out) with the separable lift of ``w`` (C_out, C_in, *k) as kernel."""
    dims = w.dim() - 2
    k = w.shape[2]
    lift = torch.from_numpy(np.stack([lift_1d(np.eye(k)[j], s) for j in range(k)], axis=1))
    kernel = w.permute(1, 0, *range(2, dims + 2))  # (C_in, C_out, k, ...)
    for axis in range(dims):
        kernel = torch.movedim(torch.tensordot(kernel, lift, dims=([2 + axis], [1])), -1, 2 + axis)
    deconv = DECONV[dims](
        w.shape[1], w.shape[0], s + k - 1, s, p, output_padding=op, dtype=torch.float64
    )
    with torch.no_grad():
        deconv.weight.copy_(kernel)
    return deconv


def interior_input(c: int, sizes: tuple[int, ...], margin: int) -> torch.Tensor:
    """Random input that is zero within ``margin`` pixels of every border, so that no padding
    rule (zeros, reflect, replicate) can change either layer's output."""
    x = torch.zeros(2, c, *sizes, dtype=torch.float64)
    inner = (slice(None), slice(None), *(slice(margin, n - margin) for n in sizes))
    x[inner] = torch.randn_like(x[inner])
    return x


def test_lift_matches_the_article_formula() -> None:
    # k=3, s=2: one input pixel paints [w2, w1 + w2, w0 + w1, w0] (cross-correlation convention)
    w = np.array([1.0, 10.0, 100.0])
    np.testing.assert_array_equal(lift_1d(w, 2), [100.0, 110.0, 11.0, 1.0])


# --- shapes ----------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    dims=st.sampled_from([1, 2]),
    k=st.integers(1, 5),
    s=st.integers(1, 4),
    p=st.integers(0, 3),
    op=st.integers(0, 3),
    d=st.integers(1, 2),
    k_new=st.sampled_from([1, 2, 3, 4, None]),
    size=st.integers(1, 6),
)
def test_output_shape_equals_the_deconvolutions(dims, k, s, p, op, d, k_new, size) -> None:
    if op >= max(s, d) or (size - 1) * s - 2 * p + d * (k - 1) + op + 1 < 1:
        return  # not a valid ConvTranspose for this input
    deconv = DECONV[dims](2, 3, k, s, p, output_padding=op, dilation=d)
    new = convert(deconv, kernel_size=k_new, padding_mode="replicate", include_stride1=True)
    for n in (size, size + 1, size + 3):  # the rule must hold for every input size
        x = torch.randn(1, 2, *(n,) * dims)
        assert new(x).shape == deconv(x).shape


@pytest.mark.parametrize(
    ("k", "s", "p", "op", "expected"),
    [
        (4, 2, 1, 0, "ResizeConv2d"),  # DCGAN: 2L
        (2, 2, 0, 0, "ResizeConv2d"),  # U-Net: 2L
        (3, 2, 1, 1, "ResizeConv2d"),  # 'same' deconvolution: 2L
        (4, 2, 0, 0, "ResizeConvAdapter"),  # 2L + 2
        (3, 2, 1, 0, "ResizeConvAdapter"),  # 2L - 1
    ],
)
def test_bare_resize_conv_only_when_geometry_agrees(k, s, p, op, expected) -> None:
    new = convert(nn.ConvTranspose2d(4, 4, k, s, p, output_padding=op))
    assert type(new).__name__ == expected


def test_adapter_example_and_repr() -> None:
    adapter = ResizeConvAdapter(checkerscope.nn.ResizeConv2d(8, 4), offset=(-1, -1), extra=(2, 2))
    assert adapter(torch.randn(1, 8, 5, 5)).shape == (1, 4, 12, 12)
    assert "offset=(-1, -1), extra=(2, 2)" in repr(adapter)
    with pytest.raises(ValueError, match=re.escape("offset=(0,), extra=(0, 0)")):
        ResizeConvAdapter(checkerscope.nn.ResizeConv2d(8, 4), offset=(0,), extra=(0, 0))


# --- alignment and projection against nn.ConvTranspose ---------------------------------------


@pytest.mark.parametrize("dims", [1, 2])
@pytest.mark.parametrize("s", [1, 2, 3])
@pytest.mark.parametrize("k_new", [1, 2, 3, 4])
def test_lifted_deconvolution_is_reproduced_exactly(dims, s, k_new) -> None:
    """For every padding / output_padding, the window convert() picks must line up so that a
    deconvolution that IS a resize-conv is recovered: residual ~0, same kernel, same output."""
    gen = torch.Generator().manual_seed(100 * dims + 10 * s + k_new)
    k_old = s + k_new - 1
    for p in range(k_old):
        for op in range(s):
            w = torch.randn(3, 2, *(k_new,) * dims, generator=gen, dtype=torch.float64)
            deconv = lifted_deconv(w, s, p, op)
            new = convert(deconv, init="project", kernel_size=k_new, include_stride1=True)
            assert new.projection_residual < 1e-12, (p, op)
            torch.testing.assert_close(resize_part(new).weight, w, rtol=0, atol=1e-12)
            torch.testing.assert_close(resize_part(new).bias, deconv.bias)
            x = interior_input(2, (2 * k_old + 5,) * dims, margin=k_old + 1)
            torch.testing.assert_close(new(x), deconv(x), rtol=0, atol=1e-12)


def delta_batch(c: int, size: int, dims: int) -> torch.Tensor:
    """(c, c, *size) float64: item i is a unit impulse at the centre of input channel i."""
    x = torch.zeros(c, c, *(size,) * dims, dtype=torch.float64)
    for i in range(c):
        x[(i, i, *(size // 2,) * dims)] = 1.0
    return x


PROJECTION_CASES = [
    # dims, k, s, p, op, d, k_new, mode
    (2, 4, 2, 1, 0, 1, 3, "nearest"),  # DCGAN
    (2, 4, 2, 1, 0, 1, None, "nearest"),
    (2, 2, 2, 0, 0, 1, 3, "bilinear"),  # U-Net
    (2, 4, 2, 0, 0, 1, 3, "nearest"),  # adapter, extra = +2
    (2, 3, 2, 1, 0, 1, 4, "nearest"),  # adapter, extra = -1
    (1, 8, 4, 2, 0, 1, 5, "nearest"),  # audio x4
    (1, 3, 3, 0, 2, 2, 3, "bilinear"),  # dilated, output_padding
    (3, 4, 2, 1, 0, 1, 3, "nearest"),
]


@pytest.mark.parametrize(("dims", "k", "s", "p", "op", "d", "k_new", "mode"), PROJECTION_CASES)
def test_projection_is_the_least_squares_optimum(dims, k, s, p, op, d, k_new, mode) -> None:
    """Brute force through the real modules: the squared distance between the two layers'
    responses to an interior impulse in each input channel has zero gradient at the projected
    weights, and its square root relative to the deconvolution's response is the residual."""
    torch.manual_seed(dims * k * s)
    deconv = DECONV[dims](3, 2, k, s, p, output_padding=op, dilation=d, bias=False)
    deconv = deconv.double()
    new = convert(deconv, mode=mode, init="project", kernel_size=k_new)
    x = delta_batch(3, 2 * (k * d + 5) // s + 9, dims)
    old = deconv(x).detach()
    loss = ((new(x) - old) ** 2).sum()
    (grad,) = torch.autograd.grad(loss, resize_part(new).weight)
    assert grad.abs().max() < 1e-9 * old.abs().max()
    brute = (loss.sqrt() / old.norm()).item()
    assert new.projection_residual == pytest.approx(brute, rel=1e-9)
    assert 0 < new.projection_residual < 1


@pytest.mark.parametrize(("dims", "k", "s", "p", "op", "d", "k_new", "mode"), PROJECTION_CASES)
def test_projection_beats_a_fresh_layer(dims, k, s, p, op, d, k_new, mode) -> None:
    torch.manual_seed(7)
    deconv = DECONV[dims](4, 3, k, s, p, output_padding=op, dilation=d)
    fresh, report = convert(deconv, mode=mode, kernel_size=k_new, return_report=True)
    projected = convert(deconv, mode=mode, kernel_size=k_new, init="project")
    r_fresh = projection_residual(deconv, fresh)
    assert report.converted[0].residual == r_fresh
    assert 0 < projected.projection_residual < 1 < r_fresh
    # the residual of any weights is the brute-force one (checks the closed form off-optimum)
    deconv, fresh = deconv.double(), fresh.double()
    x = delta_batch(4, 2 * (k * d + 5) // s + 9, dims)
    old = deconv(x) - deconv.bias.reshape(1, -1, *(1,) * dims)  # biases are not operators
    new = fresh(x) - resize_part(fresh).bias.reshape(1, -1, *(1,) * dims)
    brute = ((new - old).norm() / old.norm()).item()
    assert r_fresh == pytest.approx(brute, rel=1e-9)


def test_projected_layer_tracks_a_near_resize_conv_deconvolution() -> None:
    """A deconvolution that is a resize-conv plus 1% noise: projection recovers the resize-conv
    to within the noise, and on a smooth input the two outputs agree closely."""
    gen = torch.Generator().manual_seed(3)
    w = torch.randn(6, 5, 3, 3, generator=gen, dtype=torch.float64)
    deconv = lifted_deconv(w, 2, 1, 0)
    noise = torch.randn(deconv.weight.shape, generator=gen, dtype=torch.float64)
    noise *= 0.01 * deconv.weight.norm() / noise.norm()
    with torch.no_grad():
        deconv.weight.add_(noise)
    new = convert(deconv, init="project")
    assert 0 < new.projection_residual < 0.01
    # least squares cannot move w further than the noise over the lift's smallest gain
    lift = np.stack([lift_1d(np.eye(3)[j], 2) for j in range(3)], axis=1)
    gain = np.linalg.svd(lift, compute_uv=False).min() ** 2  # separable: 2-D gain squared
    assert (new.weight - w).norm() <= noise.norm() / gain
    t = torch.linspace(0, 1, 24, dtype=torch.float64)
    smooth = torch.stack(
        [torch.outer(torch.sin(3 * t + c), torch.cos(2 * t - c)) for c in range(5)]
    )
    y_old, y_new = deconv(smooth[None]), new(smooth[None])
    inner = (..., slice(2, -2), slice(2, -2))  # borders differ: reflect vs implicit zeros
    assert (y_new - y_old)[inner].norm() / y_old[inner].norm() < 0.02


# --- model surgery ---------------------------------------------------------------------------


class Nested(nn.Module):
    """Deconvolutions in a Sequential, a ModuleList, a ModuleDict, an attribute, and one
    layer reached from two parents."""

    def __init__(self) -> None:
        super().__init__()
        self.seq = nn.Sequential(nn.ConvTranspose2d(4, 4, 4, 2, 1), nn.ReLU())
        self.blocks = nn.ModuleList([nn.ConvTranspose2d(4, 4, 4, 2, 0)])
        self.heads = nn.ModuleDict({"up": nn.ConvTranspose2d(4, 4, 3, 2, 1, output_padding=1)})
        self.last = nn.ConvTranspose2d(4, 2, 2, 2)
        self.tied = self.seq[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.tied(self.seq(x))
        return self.last(self.heads["up"](self.blocks[0](x)))


def deconvs(model: nn.Module) -> list[str]:
    return [n for n, m in model.named_modules() if isinstance(m, nn.modules.conv._ConvTransposeNd)]


def test_every_nested_deconvolution_is_replaced_on_a_copy() -> None:
    model = Nested()
    x = torch.randn(1, 4, 3, 5)
    new, report = convert(model, return_report=True)
    assert deconvs(new) == []
    assert new(x).shape == model(x).shape
    assert new.tied is new.seq[0]  # one shared replacement for one shared layer
    assert type(new.blocks[0]).__name__ == "ResizeConvAdapter"
    assert [c.name for c in report.converted] == ["seq.0", "blocks.0", "heads.up", "last"]
    assert len(deconvs(model)) == 4  # the original is untouched
    assert "heads.up: ConvTranspose2d(4, 4" in str(report)


def test_inplace_returns_the_same_object() -> None:
    model = Nested()
    assert convert(model, inplace=True) is model
    assert deconvs(model) == []


def test_converting_a_bare_layer_returns_its_replacement() -> None:
    layer = nn.ConvTranspose1d(3, 2, 4, 2, 1)
    new = convert(layer, inplace=True)
    assert isinstance(new, checkerscope.nn.ResizeConv1d)
    assert new(torch.randn(1, 3, 11)).shape == layer(torch.randn(1, 3, 11)).shape


def test_layer_properties_are_kept() -> None:
    model = nn.Sequential(nn.ConvTranspose2d(4, 3, 4, 2, 1, bias=False, dtype=torch.float64))
    model.eval()
    model[0].weight.requires_grad_(False)
    new = convert(model)[0]
    assert (new.in_channels, new.out_channels, new.scale_factor) == (4, 3, 2)
    assert new.bias is None
    assert new.weight.dtype == torch.float64
    assert new.weight.device == model[0].weight.device
    assert not new.training
    assert not new.weight.requires_grad


def test_mode_kernel_size_and_padding_mode_are_passed_on() -> None:
    new = convert(
        nn.ConvTranspose2d(4, 3, 4, 2, 1), mode="bilinear", kernel_size=None, padding_mode="zeros"
    )
    assert (new.mode, new.kernel_size, new.padding_mode) == ("bilinear", (4, 4), "zeros")


def test_fresh_init_is_resize_convs_own() -> None:
    deconv = nn.ConvTranspose2d(4, 3, 4, 2, 1)
    torch.manual_seed(0)
    new = convert(deconv)
    torch.manual_seed(0)
    reference = checkerscope.nn.ResizeConv2d(4, 3)
    torch.testing.assert_close(new.weight, reference.weight, rtol=0, atol=0)
    torch.testing.assert_close(new.bias, reference.bias, rtol=0, atol=0)
    assert not hasattr(new, "projection_residual")


def test_stride1_layers_are_left_alone_by_default() -> None:
    # a DCGAN head: 1x1 latent -> 4x4 with a stride-1 deconvolution, then one x2 stage
    model = nn.Sequential(nn.ConvTranspose2d(8, 6, 4, 1, 0), nn.ConvTranspose2d(6, 3, 4, 2, 1))
    z = torch.randn(2, 8, 1, 1)
    new, report = convert(model, return_report=True)
    assert isinstance(new[0], nn.ConvTranspose2d)
    assert isinstance(new[1], checkerscope.nn.ResizeConv2d)
    assert report.skipped == (("0", "stride 1 (even overlap; include_stride1=True converts it)"),)
    both = convert(model, include_stride1=True)
    assert deconvs(both) == []
    assert resize_part(both[0]).scale_factor == 1
    assert both(z).shape == model(z).shape == (2, 3, 8, 8)


def test_nothing_to_convert_warns_and_returns_a_copy() -> None:
    model = nn.Sequential(nn.Conv2d(3, 3, 3), nn.ConvTranspose2d(3, 3, 3, 1, 1))
    with pytest.warns(
        UserWarning,
        match="found no ConvTranspose1d/2d/3d layer to convert in "
        "Sequential; skipped 1 stride-1 layer",
    ):
        new, report = convert(model, return_report=True)
    assert new is not model
    assert report == ConversionReport(converted=(), skipped=report.skipped)
    for a, b in zip(new.state_dict().values(), model.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    with pytest.warns(UserWarning, match="returning the model unchanged"):
        assert convert(nn.Linear(2, 2), inplace=True).__class__ is nn.Linear


def test_converted_model_trains() -> None:
    model = convert(Nested(), init="project")
    model(torch.randn(2, 4, 3, 3)).square().mean().backward()
    assert all(p.grad is not None for p in model.parameters())


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        (
            nn.ConvTranspose2d(4, 4, 4, 2, 1, groups=2),
            "cannot convert layer 'up' (ConvTranspose2d): groups=2; ResizeConv supports "
            "groups=1 only",
        ),
        (
            nn.ConvTranspose2d(4, 4, 4, (2, 1), 1),
            "cannot convert layer 'up' (ConvTranspose2d): stride=(2, 1); ResizeConv upsamples "
            "every axis by the same integer, so the stride must be equal on all axes",
        ),
        (
            nn.LazyConvTranspose2d(4, 4, 2),
            "cannot convert layer 'up' (LazyConvTranspose2d): its parameters are uninitialized "
            "(a lazy module); run one forward pass before converting",
        ),
    ],
)
def test_unconvertible_layers_are_named(layer, message) -> None:
    model = nn.Sequential()
    model.add_module("up", layer)
    with pytest.raises(ValueError, match=re.escape(message)):
        convert(model)


def test_padding_mode_other_than_zeros_is_named() -> None:
    model = nn.ModuleDict({"dec": nn.ModuleList([nn.ConvTranspose1d(2, 2, 4, 2, 1)])})
    model["dec"][0].padding_mode = "reflect"  # torch refuses this in the constructor
    with pytest.raises(
        ValueError, match=re.escape("layer 'dec.0' (ConvTranspose1d): padding_mode")
    ):
        convert(model)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "bicubic"}, "mode must be one of 'nearest', 'bilinear', got 'bicubic'"),
        ({"init": "zeros"}, "init must be one of 'fresh', 'project', got 'zeros'"),
        ({"kernel_size": 0}, "kernel_size must be a positive integer, got 0"),
        ({"kernel_size": (3, -1)}, "kernel_size must be a positive integer, got -1"),
        (
            {"padding_mode": "circular"},
            "padding_mode must be one of 'reflect', 'replicate', 'zeros', got 'circular'",
        ),
        ({"inplace": "yes"}, "inplace must be True or False, got 'yes'"),
        (
            {"kernel_size": (3, 3)},
            "cannot convert layer '0': kernel_size must be an int or a sequence of 1 ints, "
            "got (3, 3)",
        ),
    ],
)
def test_bad_arguments(kwargs, message) -> None:
    model = nn.Sequential(nn.ConvTranspose1d(2, 2, 4, 2, 1))
    with pytest.raises(ValueError, match=re.escape(message)):
        convert(model, **kwargs)


def test_bad_model_and_mismatched_replacement() -> None:
    with pytest.raises(ValueError, match=re.escape("model must be a torch.nn.Module, got str")):
        convert("generator")
    deconv = nn.ConvTranspose2d(2, 2, 4, 2, 1)
    with pytest.raises(ValueError, match=re.escape("scale_factor=3 does not match")):
        projection_residual(deconv, checkerscope.nn.ResizeConv2d(2, 2, scale_factor=3))
    with pytest.raises(ValueError, match=re.escape("differs from the deconvolution's")):
        projection_residual(nn.ConvTranspose2d(2, 2, 3, 2, 1), checkerscope.nn.ResizeConv2d(2, 2))
    with pytest.raises(ValueError, match="replacement must be a ResizeConv1d/2d/3d"):
        projection_residual(deconv, nn.Conv2d(2, 2, 3))


# --- reference models ------------------------------------------------------------------------


def lift_every_deconvolution(model: nn.Module, noise: float, seed: int) -> None:
    """Give each (k=4, s=2, p=1) deconvolution of ``model`` the lift of a random 3x3 kernel,
    plus ``noise`` times its norm of random perturbation: a stand-in for a trained model whose
    deconvolutions learned to (almost) avoid checkerboards."""
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.ConvTranspose2d):
            assert (m.kernel_size, m.stride, m.padding) == ((4, 4), (2, 2), (1, 1))
            w = torch.randn(m.out_channels, m.in_channels, 3, 3, generator=gen, dtype=torch.float64)
            lifted = lifted_deconv(w, 2, 1, 0).weight
            lifted = lifted / lifted.std() / (m.in_channels * 4) ** 0.5  # a trainable scale
            perturbation = torch.randn(lifted.shape, generator=gen, dtype=torch.float64)
            lifted = lifted + noise * lifted.norm() / perturbation.norm() * perturbation
            with torch.no_grad():
                m.weight.copy_(lifted)


@pytest.fixture(params=["dcgan", "unet"])
def model_and_input(request) -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    if request.param == "dcgan":
        return DCGANGenerator(nz=16, ngf=8, image_size=32).eval(), torch.randn(2, 16)
    return UNet(base=4, depth=3).eval(), torch.rand(2, 3, 32, 32)


def test_reference_models_convert_with_equal_shapes(model_and_input) -> None:
    model, x = model_and_input
    fresh, report = convert(model, return_report=True)
    projected = convert(model, init="project")
    assert deconvs(fresh) == deconvs(projected) == []
    assert len(report.converted) == len(deconvs(model)) > 0
    assert fresh(x).shape == projected(x).shape == model(x).shape
    for new, before in zip(
        [m for m in projected.modules() if hasattr(m, "projection_residual")],
        report.converted,
        strict=True,
    ):
        assert 0 < new.projection_residual < min(1.0, before.residual)


def test_reference_models_project_exactly_when_deconvolutions_are_resize_convs(
    model_and_input,
) -> None:
    """Lifted kernels: residual ~0 and, with zero padding (what ConvTranspose implies at the
    border, and exact for k=4, s=2, p=1), the converted model computes the same function."""
    model, x = model_and_input
    lift_every_deconvolution(model, noise=0.0, seed=1)
    new = convert(model, init="project", padding_mode="zeros")
    residuals = [m.projection_residual for m in new.modules() if hasattr(m, "projection_residual")]
    assert len(residuals) == len(deconvs(model)) and max(residuals) < 1e-6
    torch.testing.assert_close(new(x), model(x), rtol=1e-4, atol=1e-5)


def test_reference_models_project_closely_when_deconvolutions_are_nearly_resize_convs(
    model_and_input,
) -> None:
    model, x = model_and_input
    lift_every_deconvolution(model, noise=0.02, seed=2)
    # zero padding: a 4x4 map is all border, and reflect padding there is a different model
    new = convert(model, init="project", padding_mode="zeros")
    residuals = [m.projection_residual for m in new.modules() if hasattr(m, "projection_residual")]
    assert max(residuals) < 0.02
    y_old, y_new = model(x), new(x)
    assert (y_new - y_old).norm() / y_old.norm() < 0.1


def test_an_unconvertible_layer_leaves_an_inplace_model_untouched() -> None:
    model = nn.Sequential(
        nn.ConvTranspose2d(4, 4, 4, 2, 1), nn.ConvTranspose2d(4, 4, 4, 2, 1, groups=4)
    )
    with pytest.raises(ValueError, match=re.escape("layer '1' (ConvTranspose2d): groups=4")):
        convert(model, inplace=True)
    assert deconvs(model) == ["0", "1"]


def test_stride1_layers_are_skipped_before_they_are_checked() -> None:
    model = nn.Sequential(
        nn.ConvTranspose2d(4, 4, 3, 1, 1, groups=2), nn.ConvTranspose2d(4, 2, 4, 2, 1)
    )
    new, report = convert(model, return_report=True)
    assert [c.name for c in report.converted] == ["1"]
    assert new[0] is not model[0] and isinstance(new[0], nn.ConvTranspose2d)


def test_an_all_zero_deconvolution_has_an_infinite_residual_unless_matched() -> None:
    deconv = nn.ConvTranspose2d(2, 2, 4, 2, 1)
    nn.init.zeros_(deconv.weight)
    assert convert(deconv, init="project").projection_residual == 0
    assert projection_residual(deconv, convert(deconv)) == float("inf")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_projection_on_cuda_matches_cpu() -> None:
    torch.manual_seed(0)
    deconv = nn.ConvTranspose2d(4, 3, 4, 2, 0)
    on_cpu = convert(deconv, init="project")
    on_gpu = convert(deconv.cuda(), init="project")
    assert resize_part(on_gpu).weight.device.type == "cuda"
    assert on_gpu.projection_residual == pytest.approx(on_cpu.projection_residual, rel=1e-9)
    torch.testing.assert_close(resize_part(on_gpu).weight.cpu(), resize_part(on_cpu).weight)
    x = torch.randn(1, 4, 6, 6)
    torch.testing.assert_close(on_gpu(x.cuda()).cpu(), on_cpu(x), rtol=1e-4, atol=1e-5)
