"""checkerscope.conversion.replace: convert() finds every deconvolution, swaps in one shared
replacement per layer (on a copy unless inplace), keeps layer properties, reports what it did,
names what it cannot convert, and gives models that train and keep their output shapes."""

from __future__ import annotations

import re
import warnings

import pytest
import torch
from torch import nn

import checkerscope
from checkerscope.auditing import audit
from checkerscope.conversion import ConversionReport, convert
from checkerscope.models import DCGANGenerator, UNet

from .lifting import Nested, UNetWithOutputSize, deconvs, lifted_deconv, resize_part

# --- model surgery ---------------------------------------------------------------------------


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


def test_a_layer_listed_twice_in_one_parent_is_replaced_at_both_places() -> None:
    up = nn.ConvTranspose2d(3, 3, 4, 2, 1)
    model = nn.Sequential(up, nn.ReLU(), up)
    new, report = convert(model, return_report=True)
    assert deconvs(new) == [] and new[0] is new[2]
    assert [c.name for c in report.converted] == ["0"]


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


def test_converted_model_trains() -> None:
    """The converted model (adapters, a shared layer, projected weights) fits a target another
    converted model of the same shape computes: every parameter gets a gradient, the loss
    falls twentyfold, the resize-conv weights move and the shared layer stays shared."""
    torch.manual_seed(0)
    model = convert(Nested(), init="project")
    target_model = convert(Nested())
    x = torch.randn(8, 4, 3, 3)
    with torch.no_grad():
        target = target_model(x)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(300):
        optimizer.zero_grad()
        loss = (model(x) - target).square().mean()
        loss.backward()
        assert all(p.grad is not None for p in model.parameters())
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 20, (losses[0], losses[-1])
    resize_weights = [n for n in before if n.endswith("weight")]
    assert len(resize_weights) == 4  # seq.0 (shared with tied), blocks.0, heads.up, last
    for name, p in model.named_parameters():
        assert not torch.equal(p, before[name]), name
    assert model.tied is model.seq[0]


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
        ({"init": "zeros"}, "init must be one of 'fresh', 'project', 'distill', got 'zeros'"),
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


def test_bad_model() -> None:
    with pytest.raises(ValueError, match=re.escape("model must be a torch.nn.Module, got str")):
        convert("generator")


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


# --- models that call their upsamplers with output_size --------------------------------------


@pytest.mark.parametrize(("k", "p"), [(2, 0), (4, 1)])
def test_a_unet_sizing_its_upsampling_to_the_skips_converts_and_runs_at_odd_sizes(k, p) -> None:
    torch.manual_seed(0)
    model = UNetWithOutputSize(k, p)
    for new in (convert(model), convert(model, init="project"), convert(model, downsample=True)):
        assert deconvs(new) == []
        for size in [(16, 16), (17, 19), (9, 12), (31, 30), (5, 7)]:
            x = torch.randn(2, 3, *size)
            assert new(x).shape == model(x).shape == (2, 3, *size), size


def test_the_audit_of_a_unet_with_output_size_measures_its_fix() -> None:
    """Before: the converted model raised TypeError on output_size, and the audit reported the
    whole model as failing. Now the fix is measured, at an odd size, and lowers the score."""
    r = audit(UNetWithOutputSize(), (3, 17, 19), seeds=2)
    assert r.fix is not None and r.fix.replaced == ("up_inner", "up")
    assert [layer.kind for layer in r.fix.layers if layer.name.startswith("up")] == [
        "resize_conv",
        "resize_conv",
    ]
    assert r.fix.score < r.score


# --- what convert() cannot do is said -----------------------------------------------------


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning", "ignore::DeprecationWarning")
def test_a_scripted_or_traced_model_is_refused_with_what_to_do() -> None:
    model = nn.Sequential(nn.ConvTranspose2d(4, 2, 4, 2, 1), nn.Tanh())
    x = torch.randn(1, 4, 5, 5)
    for compiled, kind in [
        (torch.jit.script(model), "RecursiveScriptModule"),
        (torch.jit.trace(model, x), "TopLevelTracedModule"),
    ]:
        with pytest.raises(
            ValueError,
            match=re.escape(
                f"model is a TorchScript module ({kind}, made by torch.jit.script or "
                f"torch.jit.trace), whose compiled code cannot have its layers swapped; convert "
                f"the eager nn.Module first, then script or trace the result"
            ),
        ):
            convert(compiled)
    # A scripted part of an eager model is left alone and reported.
    outer = nn.Sequential(torch.jit.script(model), nn.ConvTranspose2d(2, 2, 4, 2, 1))
    new, report = convert(outer, return_report=True)
    assert [c.name for c in report.converted] == ["1"]
    assert report.skipped == (
        (
            "0",
            "a TorchScript module: its layers cannot be swapped (convert the eager module, "
            "then script or trace it)",
        ),
    )
    assert new(x).shape == outer(x).shape


def test_nothing_to_do_is_refused_and_nothing_found_is_said() -> None:
    model = nn.Sequential(nn.ConvTranspose2d(3, 3, 4, 2, 1))
    with pytest.raises(
        ValueError,
        match=re.escape(
            "convert() has nothing to do with transposed=False, downsample=False and "
            "subpixel=None; set at least one"
        ),
    ):
        convert(model, transposed=False)
    plain = nn.Sequential(nn.Conv2d(3, 3, 3), nn.Conv3d(3, 3, 3, stride=2))
    with pytest.warns(UserWarning) as caught:
        convert(plain, downsample=True, subpixel="icnr")
    assert str(caught[0].message) == (
        "convert() found no ConvTranspose1d/2d/3d layer, strided Conv/MaxPool/AvgPool1d/2d "
        "layer or convolution -> pixel shuffle pair to convert in Sequential; left 1 layer(s) "
        "as they are (see the report); returning the model unchanged"
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"subpixel": "pixel"}, "subpixel must be one of 'icnr', 'resize_conv', got 'pixel'"),
        ({"downsample": 1}, "downsample must be True or False, got 1"),
        ({"transposed": None}, "transposed must be True or False, got None"),
    ],
)
def test_bad_new_arguments(kwargs, message) -> None:
    with pytest.raises(ValueError, match=re.escape(message)), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        convert(nn.Sequential(nn.ConvTranspose1d(2, 2, 4, 2, 1)), **kwargs)
