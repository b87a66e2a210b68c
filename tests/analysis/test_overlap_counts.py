from __future__ import annotations

import itertools
import math
from collections import Counter

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn

import checkerscope
from checkerscope.analysis import operator_matrix, overlap, overlap_summary
from checkerscope.nn import ResizeConv1d, ResizeConv2d, ResizeConv3d, SubPixelConv2d


def brute_force_paths(specs: list[tuple[int, int]], size: tuple[int, ...]) -> torch.Tensor:
    """Enumerate every path (input position, one n-D tap per layer) and count where it lands."""
    dims = len(size)
    shape = list(size)
    for k, s in specs:
        shape = [(n - 1) * s + k for n in shape]
    tap_sets = [list(itertools.product(range(k), repeat=dims)) for k, _ in specs]
    hits: Counter[tuple[int, ...]] = Counter()
    for start in itertools.product(*(range(n) for n in size)):
        for taps in itertools.product(*tap_sets):
            pos = start
            for (_, s), tap in zip(specs, taps, strict=True):
                pos = tuple(p * s + j for p, j in zip(pos, tap, strict=True))
            hits[pos] += 1
    out = torch.zeros(shape, dtype=torch.int64)
    for pos, n in hits.items():
        out[pos] += n
    return out


def stacks(max_layers: int = 3) -> st.SearchStrategy[list[tuple[int, int]]]:
    spec = st.tuples(st.integers(1, 5), st.integers(1, 3))
    return st.lists(spec, min_size=1, max_size=max_layers)


@settings(max_examples=60, deadline=None)
@given(stacks(), st.integers(1, 3), st.data())
def test_overlap_matches_brute_force_path_count(specs, dims, data):
    size = tuple(data.draw(st.lists(st.integers(1, 3), min_size=dims, max_size=dims)))
    paths = math.prod(size) * math.prod(k**dims for k, _ in specs)
    assume(paths <= 30_000)
    counts = overlap(specs, size)
    assert counts.dtype == torch.int64
    assert torch.equal(counts, brute_force_paths(specs, size))


def test_one_pair_and_int_size_mean_one_layer_in_1d():
    assert torch.equal(overlap((3, 2), 4), overlap([(3, 2)], (4,)))
    assert overlap((3, 2), 4).tolist() == [1, 1, 2, 1, 2, 1, 2, 1, 1]


def test_top_level_reexports_the_analysis():
    assert checkerscope.overlap is overlap
    assert checkerscope.overlap_summary is overlap_summary


# The article's numbers.


def test_k3_s2_ratio_is_2_in_1d_and_4_in_2d():
    one, two = overlap_summary((3, 2), 1), overlap_summary((3, 2), (1, 1))
    assert one.axes[0].pattern == (2, 1)
    assert one.axes[0].period == 2
    assert one.ratio == 2.0
    assert two.ratio == 4.0
    assert two.pattern.tolist() == [[4, 2], [2, 1]]


def test_k4_s2_overlap_is_even():
    for dims in (1, 2, 3):
        summary = overlap_summary((4, 2), (1,) * dims)
        assert summary.ratio == 1.0
        assert summary.axes[0].uneven_periods == ()


@pytest.mark.parametrize("k, s", [(3, 2), (5, 2), (4, 3), (5, 3), (7, 4)])
def test_uneven_exactly_when_stride_does_not_divide_kernel(k, s):
    summary = overlap_summary((k, s))
    assert (summary.ratio > 1) == (k % s != 0)


@pytest.mark.parametrize("k, s", [(3, 2), (5, 2), (4, 3), (5, 3)])
@pytest.mark.parametrize("m", [1, 2])
def test_stride_1_last_layer_of_size_multiple_of_s_flattens_the_interior(k, s, m):
    before, after = [(k, s)], [(k, s), (m * s, 1)]
    assert overlap_summary(before).ratio > 1
    assert overlap_summary(after).ratio == 1.0
    # The same seen on the counts themselves: flat between the borders.
    n = 10
    support = overlap(after, 1).numel()
    counts = overlap(after, n)
    assert counts[support - 1 : (n - 1) * s + 1].unique().numel() == 1


def test_stride_1_layer_removes_the_periods_dividing_its_size_and_reduces_longer_ones():
    two = overlap_summary([(3, 2), (3, 2)]).axes[0]
    assert two.pattern == (3, 2, 3, 1)
    assert two.uneven_periods == (2, 4)
    assert two.period_ratios == {1: 1.0, 2: 2.0, 4: 3.0}
    smoothed = overlap_summary([(3, 2), (3, 2), (2, 1)]).axes[0]
    assert smoothed.uneven_periods == (4,)
    assert smoothed.period_ratios[2] == 1.0
    assert 0 < smoothed.period_amplitudes[4] < two.period_amplitudes[4]
    assert overlap_summary([(3, 2), (3, 2), (4, 1)]).ratio == 1.0


def test_period_amplitudes_of_a_two_phase_pattern():
    # Pattern (2, 1): mean 1.5, period-2 component (+0.5, -0.5), RMS 0.5.
    axis = overlap_summary((3, 2)).axes[0]
    assert axis.period_amplitudes[2] == pytest.approx(0.5 / 1.5)


def test_a_phase_without_paths_has_infinite_ratio():
    summary = overlap_summary((1, 2))
    assert summary.axes[0].pattern == (1, 0)
    assert summary.ratio == math.inf


@settings(max_examples=40, deadline=None)
@given(stacks(max_layers=3))
def test_interior_pattern_matches_the_brute_force_interior(specs):
    """Far from the borders the brute-force counts repeat the summary's pattern."""
    stride = math.prod(s for _, s in specs)
    support = overlap(specs, 1).numel()
    n = -(-support // stride) + 3
    assume(n * math.prod(k for k, _ in specs) <= 20_000)
    counts = brute_force_paths(specs, (n,))
    summary = overlap_summary(specs)
    pattern = summary.axes[0].pattern
    interior = range(support - 1, (n - 1) * stride + 1)
    assert len(interior) > 0
    assert stride % summary.axes[0].period == 0
    for t in interior:
        assert counts[t] == pattern[t % len(pattern)]
    ratio = max(pattern) / min(pattern) if min(pattern) else math.inf
    assert summary.ratio == ratio


# Models.


def ones_weights(model: nn.Module) -> nn.Module:
    model = model.double()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.fill_(0.0 if name.endswith("bias") else 1.0)
    return model


MODELS = {
    "deconv stack with padding": lambda: nn.Sequential(
        nn.ConvTranspose2d(1, 1, 3, 2, 1, output_padding=1),
        nn.ReLU(),
        nn.ConvTranspose2d(1, 1, 4, 2, 1),
        nn.Conv2d(1, 1, 3, padding=1),
    ),
    "output padding past the taps": lambda: nn.ConvTranspose2d(1, 1, 2, 3, 0, output_padding=2),
    "dilation and strided conv": lambda: nn.Sequential(
        nn.ConvTranspose2d(1, 1, (3, 5), (2, 3), (0, 2), dilation=(2, 1)),
        nn.Conv2d(1, 1, 3, stride=2, padding=2, padding_mode="reflect"),
    ),
    "nearest upsample and same conv": lambda: nn.Sequential(
        nn.Upsample(scale_factor=3),
        nn.Conv2d(1, 1, (2, 3), padding="same", padding_mode="replicate"),
    ),
    "resize-convs": lambda: nn.Sequential(
        ResizeConv2d(1, 1, 3),
        nn.LeakyReLU(),
        ResizeConv2d(1, 1, 4, scale_factor=3, padding_mode="zeros"),
    ),
    "sub-pixel convs": lambda: nn.Sequential(
        SubPixelConv2d(1, 1, 3), SubPixelConv2d(1, 1, 2, scale_factor=3, padding_mode="circular")
    ),
    "conv and pixel shuffle": lambda: nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, padding_mode="circular"), nn.PixelShuffle(2)
    ),
    "1-D": lambda: nn.Sequential(
        nn.ConvTranspose1d(1, 1, 5, 3, 1), ResizeConv1d(1, 1, 3), nn.Conv1d(1, 1, 3, 2, 1)
    ),
    "3-D": lambda: nn.Sequential(nn.ConvTranspose3d(1, 1, 3, 2), ResizeConv3d(1, 1, 2)),
}


@pytest.mark.parametrize("name", MODELS)
def test_model_counts_equal_its_forward_with_ones_weights(name):
    """With all-ones weights, nearest resizes and a ones input, a layer's output is its count."""
    model = ones_weights(MODELS[name]())
    size = (5, 7, 4)[: model_dims(model)]
    counts = overlap(model, size)
    out = model(torch.ones(1, 1, *size, dtype=torch.float64))
    assert counts.shape == out.shape[2:]
    assert torch.equal(counts.double(), out[0, 0])


def model_dims(model: nn.Module) -> int:
    return next(len(m.kernel_size) for m in model.modules() if hasattr(m, "kernel_size"))


def test_blurred_sub_pixel_counts_the_box_paths():
    model = ones_weights(nn.Sequential(SubPixelConv2d(1, 1, 3, blur=True)))
    counts = overlap(model, (4, 5))
    # The blur box averages 2 x 2 samples: 4 paths where the forward shows their mean.
    assert torch.equal(counts.double(), 4 * model(torch.ones(1, 1, 4, 5).double())[0, 0])


@pytest.mark.parametrize("name", MODELS)
def test_model_interior_follows_its_summary_pattern(name):
    model = MODELS[name]()
    dims = model_dims(model)
    size = (20,) * dims if dims < 3 else (10,) * 3
    counts = overlap(model, size)
    summary = overlap_summary(model, size)
    centre = tuple(slice(n // 3, 2 * n // 3) for n in counts.shape)
    index = torch.meshgrid(
        *(
            torch.arange(n)[c] % p
            for n, c, p in zip(counts.shape, centre, summary.period, strict=True)
        ),
        indexing="ij",
    )
    assert torch.equal(counts[centre], summary.pattern[index])


def test_model_of_padding_0_deconvs_equals_the_specs():
    specs = [(3, 2), (5, 3), (2, 2)]
    model = nn.Sequential(*(nn.ConvTranspose2d(2, 2, k, s) for k, s in specs))
    assert torch.equal(overlap(model, (3, 4)), overlap(specs, (3, 4)))
    assert overlap(model, 3).shape == overlap(specs, (3, 3)).shape
    assert torch.equal(
        overlap_summary(model, (3, 4)).pattern, overlap_summary(specs, (1, 1)).pattern
    )


@pytest.mark.parametrize(
    "up",
    [
        nn.Upsample(scale_factor=2, mode="bilinear"),
        nn.Upsample(scale_factor=3, mode="bilinear"),
        nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True),
        nn.Upsample(size=(9, 11), mode="bilinear"),
        nn.Upsample(scale_factor=(1.5, 2.5), mode="nearest"),
    ],
)
def test_resize_counts_the_sources_it_weights(up):
    """Counts of one resize = nonzero entries per row of its real n-D operator matrix."""
    counts = overlap(up, (4, 5))
    matrix = operator_matrix(up, (4, 5))
    assert torch.equal(counts.flatten(), (matrix != 0).sum(1))


def test_model_reading_restores_training_modes_and_skips_normalization():
    model = nn.Sequential(nn.ConvTranspose2d(2, 2, 3, 2), nn.BatchNorm2d(2), nn.Dropout(0.5))
    model[1].eval()
    assert torch.equal(overlap(model, 1), overlap((3, 2), (1, 1)))
    assert model.training and model[0].training and not model[1].training


class Swish(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(x)


class FunctionalResize(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0))


def test_custom_pointwise_layers_need_naming():
    model = nn.Sequential(nn.ConvTranspose2d(1, 1, 3, 2), Swish())
    with pytest.raises(ValueError, match="cannot read a layer of type Swish"):
        overlap(model, 3)
    assert torch.equal(overlap(model, 3, pointwise=(Swish,)), overlap((3, 2), (3, 3)))


# Bad input.


@pytest.mark.parametrize(
    "specs, size, message",
    [
        ((0, 2), 4, "kernel_size must be a positive integer, got 0"),
        ((3, 0), 4, "stride must be a positive integer, got 0"),
        ([(3, 2), (3, -1)], 4, "stride must be a positive integer, got -1"),
        ((True, 2), 4, "kernel_size must be a positive integer, got True"),
        ([], 4, r"specs must be a \(kernel_size, stride\) pair.*got \[\]"),
        ("k3s2", 4, "specs must be"),
        ([(3, 2, 1)], 4, r"each spec must be a \(kernel_size, stride\) pair, got \(3, 2, 1\)"),
        ((3, 2), 0, "size must be a positive integer, got 0"),
        ((3, 2), (4, 0), "size must be a positive integer, got 0"),
        ((3, 2), (), "size must be a positive int or a non-empty tuple"),
    ],
)
def test_bad_specs_and_sizes_raise_value_errors(specs, size, message):
    with pytest.raises(ValueError, match=message):
        overlap(specs, size)
    with pytest.raises(ValueError, match=message):
        overlap_summary(specs, size)


def test_bad_models_raise_value_errors():
    with pytest.raises(ValueError, match="cannot read a layer of type MaxPool2d"):
        overlap(nn.Sequential(nn.ConvTranspose2d(1, 1, 3, 2), nn.MaxPool2d(2)), 4)
    with pytest.raises(ValueError, match="resizes outside the layers overlap reads"):
        overlap(FunctionalResize(), 4)
    with pytest.raises(ValueError, match=r"size \(2, 2\) does not run through the model"):
        overlap(nn.Conv2d(1, 1, 5), 2)
    with pytest.raises(ValueError, match="mode='bicubic'"):
        overlap(nn.Upsample(scale_factor=2, mode="bicubic"), (4, 4))
    with pytest.raises(ValueError, match="periodic interior"):
        overlap_summary(nn.Upsample(scale_factor=1.5), (4, 4))
