"""checkerscope.conversion.downsample: convert(downsample=True) swaps strided convolutions and
pools for anti-aliased ones that keep the weights and every output shape, for every input
size, and says what it leaves alone."""

from __future__ import annotations

import copy
import re

import pytest
import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm, weight_norm
from torch.nn.utils.parametrize import is_parametrized

from checkerscope import audit
from checkerscope.conversion import BlurredAvgPool, convert
from checkerscope.conversion.downsample import blur_stages
from checkerscope.functional.blurpool import binomial_taps, blur, separable_kernel
from checkerscope.nn import AntiAliasedConv1d, AntiAliasedConv2d, BlurPool2d


def test_antialias_keeps_geometry_and_weights() -> None:
    conv = nn.Conv2d(3, 6, 3, stride=2, padding=1, dilation=1, groups=3, padding_mode="reflect")
    # the root itself is replaced
    new, report = convert(
        copy.deepcopy(conv), transposed=False, downsample=True, return_report=True
    )
    assert isinstance(new, AntiAliasedConv2d)
    assert [c.name for c in report.converted] == [""] and report.skipped == ()
    assert torch.equal(new.conv.weight, conv.weight) and torch.equal(new.conv.bias, conv.bias)
    x = torch.randn(1, 3, 15, 15)
    assert new(x).shape == conv(x).shape


# --- shapes kept for every input size ---------------------------------------------------------


def downsamplers(dims: int) -> list[nn.Module]:
    """Strided layers of one rank in the variants models use: padding, dilation, padding
    modes, kernels unequal to strides, ceil mode, count_include_pad, divisor_override."""
    conv = {1: nn.Conv1d, 2: nn.Conv2d}[dims]
    max_pool = {1: nn.MaxPool1d, 2: nn.MaxPool2d}[dims]
    avg_pool = {1: nn.AvgPool1d, 2: nn.AvgPool2d}[dims]
    layers = [
        conv(2, 3, 3, stride=2, padding=1),
        conv(2, 3, 4, stride=2, padding=1),  # DCGAN / PatchGAN discriminators
        conv(2, 3, 1, stride=2),  # ResNet shortcut
        conv(2, 3, 3, stride=3, padding=2, dilation=2, padding_mode="reflect"),
        conv(2, 4, 3, stride=2, padding="valid", groups=2, bias=False),
        conv(2, 3, 5, stride=2, padding=2, padding_mode="circular"),
        conv(2, 3, 41, stride=4, padding=20, groups=1),  # MelGAN's discriminator
        conv(2, 3, 4, stride=4),  # ViT-style patch embedding
        conv(2, 3, 3, stride=8, padding=1),
    ]
    for k, s, p, d, ceil_mode in [
        (2, 2, 0, 1, False),  # VGG, U-Net encoders
        (3, 2, 1, 1, False),  # ResNet stem
        (3, 2, 0, 1, True),  # GoogLeNet, SqueezeNet
        (2, 2, 0, 1, True),
        (3, 3, 1, 2, True),
        (4, 3, 2, 1, False),
        (4, 4, 0, 1, False),
        (3, 4, 1, 1, False),
        (4, 4, 1, 1, True),
    ]:
        layers.append(max_pool(k, s, p, d, ceil_mode=ceil_mode))
    for k, s, p, ceil_mode, count in [
        (2, 2, 0, False, True),  # DenseNet transitions
        (2, 2, 0, True, False),  # ResNet-D shortcuts
        (3, 2, 1, False, False),  # pix2pixHD's multi-scale discriminator
        (3, 3, 1, True, True),
        (4, 2, 2, True, True),
    ]:
        layers.append(avg_pool(k, s, p, ceil_mode=ceil_mode, count_include_pad=count))
    if dims == 2:
        layers.append(nn.AvgPool2d(2, 2, divisor_override=3))
    return layers


@pytest.mark.parametrize("dims", [1, 2])
def test_every_output_shape_is_kept_for_every_input_size(dims: int) -> None:
    checked = 0
    for layer in downsamplers(dims):
        new, report = convert(layer, transposed=False, downsample=True, return_report=True)
        assert len(report.converted) == 1 and report.skipped == (), layer
        for n in range(1, 20):
            x = torch.randn(2, 2, *(n, n + 3)[:dims])
            try:
                want = layer(x)
            except RuntimeError:  # the original refuses this size
                continue
            if not torch.isfinite(want).all():
                continue  # a max pool window wholly in the padding: -inf there
            got = new(x)
            assert got.shape == want.shape, (layer, n)
            assert torch.isfinite(got).all(), (layer, n)
            checked += 1
    assert checked > 200


def test_weights_modes_and_flags_carry_over() -> None:
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1, dtype=torch.float64),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.AvgPool2d(2),
    ).eval()
    model[0].bias.requires_grad_(False)
    new, report = convert(model, transposed=False, downsample=True, return_report=True)
    assert [type(m).__name__ for m in new] == [
        "AntiAliasedConv2d",
        "ReLU",
        "MaxBlurPool2d",
        "BlurredAvgPool",
    ]
    assert torch.equal(new[0].conv.weight, model[0].weight)
    assert new[0].conv.weight.dtype == torch.float64
    assert new[0].conv.weight.requires_grad and not new[0].conv.bias.requires_grad
    assert not any(m.training for m in new.modules())
    assert [(c.name, c.kind, c.residual) for c in report.converted] == [
        ("0", "downsample", None),
        ("2", "downsample", None),
        ("3", "downsample", None),
    ]
    assert (
        "2: MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False) -> "
        "MaxBlurPool2d(kernel_size=(2, 2), stride=2" in str(report)
    )
    x = torch.randn(1, 3, 33, 33, dtype=torch.float64)
    assert new(x).shape == model(x).shape == (1, 8, 4, 4)


def test_what_has_no_equivalent_is_left_and_reported() -> None:
    model = nn.Sequential(
        nn.Conv3d(1, 1, 3, stride=2),
        nn.Conv2d(1, 1, 3, stride=(1, 2)),
        nn.MaxPool3d(2),
        nn.AvgPool2d((2, 1)),
        nn.MaxPool1d(2, return_indices=True),
        nn.MaxPool2d(3, stride=1, padding=1),  # not strided: not a downsampler
    )
    with pytest.warns(UserWarning, match="left 5 layer"):
        new, report = convert(model, transposed=False, downsample=True, return_report=True)
    assert report.converted == ()
    assert report.skipped == (
        ("0", "no anti-aliased 1-D/2-D equivalent"),
        ("1", "no anti-aliased 1-D/2-D equivalent"),
        ("2", "no anti-aliased 1-D/2-D equivalent"),
        ("3", "no anti-aliased 1-D/2-D equivalent"),
        ("4", "returns indices (return_indices=True), which MaxBlurPool does not"),
    )
    assert all(type(a) is type(b) for a, b in zip(new, model, strict=True))


def test_a_lazy_strided_convolution_is_named() -> None:
    model = nn.Sequential(nn.LazyConv2d(4, 3, stride=2))
    with pytest.raises(
        ValueError,
        match=re.escape(
            "cannot convert layer '0' (LazyConv2d): its parameters are uninitialized (a lazy "
            "module); run one forward pass before converting"
        ),
    ):
        convert(model, downsample=True)


def test_converting_twice_changes_nothing_more() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3, 2, 1), nn.MaxPool2d(2), nn.AvgPool2d(2))
    once = convert(model, transposed=False, downsample=True)
    with pytest.warns(UserWarning, match="found no strided Conv/MaxPool/AvgPool1d/2d layer"):
        twice, report = convert(once, transposed=False, downsample=True, return_report=True)
    assert report.converted == ()
    assert [type(m) for m in twice.modules()] == [type(m) for m in once.modules()]


# --- the replacements compute what they promise -----------------------------------------------


@pytest.mark.parametrize("size", [(8, 8), (12, 6), (4, 10)])
def test_blurred_avg_pool_2_is_zhangs_blurpool_with_four_taps(size) -> None:
    """Even sizes: the binomial blur, then AvgPool2d(2), equals BlurPool2d(filter_size=4), the
    default of antialiased-cnns: taps [1, 3, 3, 1] / 8, centred on the pool's windows."""
    x = torch.randn(2, 3, *size, dtype=torch.float64)
    new = convert(nn.AvgPool2d(2), transposed=False, downsample=True)
    blurpool = BlurPool2d(3, stride=2, filter_size=4, padding_mode="replicate")
    torch.testing.assert_close(new(x), blurpool(x))


def test_blurred_avg_pool_keeps_every_option_of_the_pool() -> None:
    """Blur first, then the pool itself: equal to the pool applied to the blurred input."""
    pool = nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False, divisor_override=5)
    new = convert(pool, transposed=False, downsample=True)
    x = torch.randn(1, 2, 11, 8, dtype=torch.float64)
    blurred = blur(x, separable_kernel(binomial_taps(3, dtype=torch.float64), 2), 1, "replicate")
    torch.testing.assert_close(new(x), pool(blurred))
    assert repr(new) == (
        "BlurredAvgPool(kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), ceil_mode=True, "
        "count_include_pad=False, divisor_override=5, filter_size=3, padding_mode='replicate')"
    )


def test_max_blur_pool_of_a_converted_max_pool_keeps_its_geometry() -> None:
    pool = nn.MaxPool2d((3, 2), stride=2, padding=(1, 0), dilation=(1, 2), ceil_mode=True)
    new = convert(pool, transposed=False, downsample=True)
    assert (new.kernel_size, new.stride, new.padding, new.dilation, new.ceil_mode) == (
        (3, 2),
        2,
        (1, 0),
        (1, 2),
        True,
    )
    assert new.channels is None and new.padding_mode == "replicate"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dims": 3}, "dims must be 1 or 2, got 3"),
        ({"kernel_size": 0}, "kernel_size must be a positive integer, got 0"),
        ({"ceil_mode": "yes"}, "ceil_mode must be True or False, got 'yes'"),
        (
            {"dims": 1, "divisor_override": 2},
            "divisor_override exists for 2-D average pools only, got 2",
        ),
        (
            {"padding_mode": "circular"},
            "padding_mode must be one of 'reflect', 'replicate', 'zeros', got 'circular'",
        ),
    ],
)
def test_blurred_avg_pool_bad_arguments(kwargs, message) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        BlurredAvgPool(**{"dims": 2, "kernel_size": 2, "stride": 2, **kwargs})


def test_a_converted_classifier_trains() -> None:
    """Every parameter of the anti-aliased model gets a gradient and the loss falls."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, 2, 1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.AvgPool2d(2),
        nn.Flatten(),
        nn.LazyLinear(2),
    )
    x, y = torch.randn(16, 3, 17, 17), torch.randint(0, 2, (16,))
    model(x)  # materializes the lazy head
    new = convert(model, transposed=False, downsample=True)
    optimizer = torch.optim.Adam(new.parameters(), lr=1e-2)
    losses = []
    for _ in range(100):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(new(x), y)
        loss.backward()
        assert all(p.grad is not None for p in new.parameters())
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 10, (losses[0], losses[-1])


# --- parametrized convolutions ----------------------------------------------------------------


@pytest.mark.parametrize("wrap", [weight_norm, spectral_norm])
def test_a_parametrized_strided_convolution_keeps_its_parametrization(wrap) -> None:
    conv = wrap(nn.Conv1d(2, 4, 5, stride=2, padding=2)).eval()
    new, report = convert(conv, transposed=False, downsample=True, return_report=True)
    assert isinstance(new, AntiAliasedConv1d) and report.skipped == ()
    assert is_parametrized(new.conv, "weight") and not new.training
    old_state, new_state = conv.state_dict(), new.conv.state_dict()
    assert old_state.keys() == new_state.keys()
    assert all(torch.equal(old_state[k], new_state[k]) for k in old_state)
    torch.testing.assert_close(new.conv.weight, conv.weight)
    x = torch.randn(2, 2, 37)
    assert new(x).shape == conv(x).shape


def test_a_weight_normed_discriminator_is_audited_with_its_fix() -> None:
    """The audit's fix of a weight-normalised discriminator is measured, not a load error."""
    d = nn.Sequential(
        weight_norm(nn.Conv1d(1, 8, 5, 2, 2)),
        nn.LeakyReLU(0.2),
        weight_norm(nn.Conv1d(8, 1, 3, 1, 1)),
    )
    report = audit(d, (1, 512), seeds=3, gradients=True)
    assert report.fix is not None and report.fix.replaced == ("0",)


def test_a_hook_based_weight_norm_is_left_with_the_reason() -> None:
    with pytest.warns(FutureWarning):
        conv = torch.nn.utils.weight_norm(nn.Conv1d(1, 2, 3, stride=2))
    with pytest.warns(UserWarning, match="left 1 layer"):
        _, report = convert(
            nn.Sequential(conv), transposed=False, downsample=True, return_report=True,
            inplace=True,  # such a layer cannot even be deep-copied
        )  # fmt: skip
    ((name, why),) = report.skipped
    assert name == "0" and why.startswith("its state (bias, weight_g, weight_v) is not that of")


# --- strides above 2: blur-pools at stride 2 in a row -----------------------------------------


def test_blur_stages_split_powers_of_two_only() -> None:
    assert [blur_stages(s) for s in range(1, 10)] == [1, 1, 1, 2, 1, 1, 1, 3, 1]


@pytest.mark.parametrize(("dims", "stride"), [(1, 4), (1, 8), (2, 4)])
def test_the_gradient_of_a_flat_output_is_flat_at_strides_above_2(dims: int, stride: int) -> None:
    """Zhang's 3 taps at stride 4 send back [0.5, 0.25, 0, 0.25] for a flat gradient; the
    blur-pools at stride 2 in a row send back the same at every phase (away from borders)."""
    conv = {1: nn.Conv1d, 2: nn.Conv2d}[dims](1, 1, 1, stride=stride, bias=False)
    with torch.no_grad():
        conv.weight.fill_(1.0)
    new = convert(conv.double(), transposed=False, downsample=True)
    x = torch.zeros(1, 1, *(16 * stride,) * dims, dtype=torch.float64, requires_grad=True)
    new(x).sum().backward()
    inner = x.grad[(..., *(slice(2 * stride, -2 * stride),) * dims)]
    torch.testing.assert_close(inner, torch.full_like(inner, stride**-dims), rtol=0, atol=1e-12)
    single = AntiAliasedConv1d(1, 1, 1, stride=stride, filter_size=3, bias=False).double()
    with torch.no_grad():
        single.conv.weight.fill_(1.0)
    y = torch.zeros(1, 1, 16 * stride, dtype=torch.float64, requires_grad=True)
    single(y).sum().backward()
    assert float(y.grad[0, 0, 2 * stride :: stride].std()) == 0  # one phase ...
    assert float(y.grad[0, 0, 2 * stride : -2 * stride].std()) > 0.1  # ... but not the others


@pytest.mark.parametrize("stride", [4, 8])
def test_stride_above_2_is_the_stretched_binomials_at_the_full_stride(stride: int) -> None:
    """Interior outputs equal one blur at the full stride with the taps b * (b stretched by 2)
    * (b stretched by 4) ..., b = [1, 2, 1] / 4, centred on the strided layer's samples."""
    pool = convert(nn.MaxPool1d(1, stride=stride), transposed=False, downsample=True)
    assert [type(m).__name__ for m in pool] == ["MaxBlurPool1d"] + ["BlurredAvgPool"] * (
        blur_stages(stride) - 1
    )
    conv = nn.Conv1d(3, 3, 1, stride=stride, groups=3, bias=False)
    with torch.no_grad():
        conv.weight.fill_(1.0)
    new = convert(conv.double(), transposed=False, downsample=True)
    assert [type(m).__name__ for m in new] == ["AntiAliasedConv1d"] + ["BlurPool1d"] * (
        blur_stages(stride) - 1
    )
    taps, b, step = torch.ones(1, dtype=torch.float64), binomial_taps(3, dtype=torch.float64), 1
    while step < stride:
        stretched = torch.zeros(2 * step + 1, dtype=torch.float64)
        stretched[::step] = b
        taps = torch.nn.functional.conv1d(
            taps.view(1, 1, -1), stretched.flip(0).view(1, 1, -1), padding=2 * step
        ).flatten()
        step *= 2
    x = torch.randn(2, 3, 32 * stride, dtype=torch.float64)
    half = (taps.numel() - 1) // 2  # output j is centred on input stride * j
    padded = torch.nn.functional.pad(x.reshape(6, 1, -1), (half, half))
    want = torch.nn.functional.conv1d(padded, taps.view(1, 1, -1), stride=stride).view(2, 3, -1)
    inner = slice(-(-half // stride) + 1, -(-half // stride) - 1)  # away from the borders
    for y in (new(x), pool(x)):
        assert y.shape == want.shape
        torch.testing.assert_close(y[..., inner], want[..., inner])


def test_a_stride_4_discriminator_s_gradient_loses_its_checkerboard() -> None:
    """The case of MelGAN's discriminator: k17 s4 convolutions; with one 3-tap blur-pool at
    stride 4 the fix stayed near the original's score, with two at stride 2 it is gone."""
    d = nn.Sequential(
        nn.Conv1d(1, 8, 17, 4, 8), nn.LeakyReLU(0.2), nn.Conv1d(8, 8, 17, 4, 8),
        nn.LeakyReLU(0.2), nn.Conv1d(8, 1, 3, 1, 1),
    )  # fmt: skip
    report = audit(d, (1, 2048), seeds=4, gradients=True)
    assert report.flagged and report.fix is not None
    assert report.fix.score < 3.0 < report.score - 12
    assert all(layer.stride == (2,) for layer in report.fix.layers)
