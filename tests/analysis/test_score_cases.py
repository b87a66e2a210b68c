"""The checkerboard score on the cases issue 12 lists: what must not be flagged, what must be,
scale and non-finite input, and gradients (later issues train against the score)."""

from __future__ import annotations

import math

import pytest
import torch

from checkerscope.analysis import image_classes as I
from checkerscope.analysis import score as S
from checkerscope.data import embedded_photographs, random_crops


@pytest.fixture(scope="module")
def photos() -> torch.Tensor:
    """Eight 8-bit 256 x 256 photo crops, squeezed into [0.1, 0.9]."""
    return I.quantize(0.1 + 0.8 * random_crops(embedded_photographs(), 8, 256, seed=12))


def scores(images: list[torch.Tensor] | torch.Tensor) -> torch.Tensor:
    return torch.cat([S.checkerboard_score(x) for x in images])


def test_photographs_score_low(photos: torch.Tensor) -> None:
    assert (S.checkerboard_score(photos) < S.THRESHOLD).all()


def test_a_one_pixel_frame_on_a_photo_is_not_flagged(photos: torch.Tensor) -> None:
    for shade in (0.0, 1.0):
        framed = photos.clone()
        framed[..., 0, :] = framed[..., -1, :] = framed[..., :, 0] = framed[..., :, -1] = shade
        assert (S.checkerboard_score(framed) < S.THRESHOLD).all(), shade


def test_a_one_pixel_frame_on_flat_grey_is_not_flagged() -> None:
    for size in ((64, 64), (256, 256), (100, 300)):
        x = torch.full((3, *size), 0.5)
        x[..., 0, :] = x[..., -1, :] = x[..., :, 0] = x[..., :, -1] = 0.0
        assert float(S.checkerboard_score(x)) < S.THRESHOLD, size


def test_a_black_top_row_on_flat_grey_is_not_flagged() -> None:
    """The issue's 60 dB case: a row puts its energy along a whole frequency axis."""
    x = torch.full((1, 256, 256), 0.5)
    x[..., 0, :] = 0.0
    assert float(S.checkerboard_score(x)) < S.THRESHOLD


def test_one_line_across_a_photo_is_not_flagged(photos: torch.Tensor) -> None:
    lined = photos.clone()
    for i, x in enumerate(lined):
        if i % 2:
            x[:, 37 + 11 * i, :] = 0.0  # a dark row
        else:
            x[:, :, 200 - 13 * i] = 1.0  # a bright column
    assert (S.checkerboard_score(lined) < S.THRESHOLD).all()


def test_lines_and_edges_at_any_angle_are_not_flagged() -> None:
    """45-degree lines and aliased edges put a line of energy through 2-D lattice points."""
    gen = torch.Generator().manual_seed(4)
    flat = [I.with_lines(I.flat(96, 160, gen), gen) for _ in range(6)]
    edges = [I.straight_edge(h, w, gen) for h, w in ((256, 256), (96, 160), (200, 300)) * 2]
    assert (scores(flat + edges) < S.THRESHOLD).all()


def test_letterbox_bars_are_not_flagged(photos: torch.Tensor) -> None:
    boxed = photos.clone()
    boxed[..., :40, :] = boxed[..., -40:, :] = 0.0
    assert (S.checkerboard_score(boxed) < S.THRESHOLD).all()


@pytest.mark.parametrize("method", ["nearest", "bilinear"])
@pytest.mark.parametrize("factor", [2, 4])
def test_enlarged_photographs_are_not_flagged(
    photos: torch.Tensor, method: str, factor: int
) -> None:
    """Their exact zeros on the enlargement's lattice stay zeros on the raw axes."""
    assert (scores([I.enlarged(x, factor, method) for x in photos]) < S.THRESHOLD).all()


@pytest.mark.parametrize("quality", [10, 30])
def test_jpeg_at_low_quality_is_not_flagged(photos: torch.Tensor, quality: int) -> None:
    assert (scores([I.jpeg_roundtrip(x, quality) for x in photos]) < S.THRESHOLD).all()


def test_text_is_not_flagged() -> None:
    """Lines of text at an even pitch put a comb of peaks on the rows' axis."""
    gen = torch.Generator().manual_seed(2)
    assert (scores([I.text_page(256, 256, gen) for _ in range(6)]) < S.THRESHOLD).all()


def test_the_gradient_of_a_stride_1_convolution_is_not_flagged() -> None:
    """Flat inside, a frame at the border: the issue's 29-44 dB false alarm."""
    for seed in range(4):
        torch.manual_seed(seed)
        conv = torch.nn.Conv2d(3, 3, 3, padding=1)
        for size in (64, 256):
            x = torch.rand(2, 3, size, size)
            assert (S.gradient_checkerboard(conv, x) < S.THRESHOLD).all(), (seed, size)


@pytest.mark.parametrize("period", [2, 4, 8])
@pytest.mark.parametrize("amplitude", [0.01, 0.02])
def test_planted_patterns_are_found(photos: torch.Tensor, period: int, amplitude: float) -> None:
    gen = torch.Generator().manual_seed(period)
    planted = torch.stack([I.planted(x, period, amplitude, gen) for x in photos])
    assert (S.checkerboard_score(planted) > S.THRESHOLD).all()


def test_a_period_8_checkerboard_is_not_drowned_by_the_background_at_low_frequencies() -> None:
    """A 1% period-8 checkerboard on a 128 x 128 crop of a dev photograph (astronaut): its
    energy sits on the four lowest lattice peaks, where the photograph is strongest. Summing
    the background over all 49 peaks before dividing scored it 11.1 dB (missed); each peak
    over its own background, averaged, gives it 18 dB."""
    photo = I.bundled("astronaut")[:, 320:448, 384:512]
    pattern = I.pattern("checkerboard", 8, 3, 128, 128, seed=0)
    x = I.quantize(0.1 + 0.8 * photo + 0.01 * pattern)
    verdict = S.explain_score(x, impl="torch")
    assert float(verdict.score[0]) > S.THRESHOLD + 3
    assert int(verdict.period[0]) == 8 and verdict.where[0] == "lattice"
    torch.testing.assert_close(S.checkerboard_score(x, impl="numpy"), verdict.score)
    assert float(S.checkerboard_score(I.quantize(0.1 + 0.8 * photo))) < S.THRESHOLD - 3


def test_a_pattern_on_part_of_the_image_is_found(photos: torch.Tensor) -> None:
    gen = torch.Generator().manual_seed(0)
    planted = torch.stack([I.planted(x, 2, 0.04, gen, part=0.5) for x in photos])
    assert (S.checkerboard_score(planted) > S.THRESHOLD).all()


def test_the_place_of_the_energy_is_named(photos: torch.Tensor) -> None:
    x = photos[:3].clone()
    x[0] += 0.02 * I.pattern("checkerboard", 2, 3, 256, 256, 0)
    x[1, :, ::4] += 0.02  # a row in four
    x[2, :, :, 1::2] += 0.02  # every other column
    verdict = S.explain_score(I.quantize(x))
    assert verdict.where == ("lattice", "rows", "columns")
    assert verdict.period.tolist() == [2, 4, 2]


@pytest.mark.parametrize("factor", [1e20, 1e-20, 2.0**100, 2.0**-100, -3.0])
def test_the_score_is_the_same_at_any_scale_in_float32(photos: torch.Tensor, factor: float) -> None:
    x = photos[:4].clone()
    x[:2] += 0.02 * I.pattern("random", 4, 3, 256, 256, 1)
    reference = S.period_scores(x)
    scaled = S.period_scores(x * factor)
    assert scaled.isfinite().all()
    if math.log2(abs(factor)).is_integer():  # a power of two is exact: so is the score
        assert torch.equal(scaled, reference)
    else:
        torch.testing.assert_close(scaled, reference, atol=1e-3, rtol=0)
    torch.testing.assert_close(
        S.period_scores(x * factor, impl="torch"), reference, atol=1e-3, rtol=0
    )


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("impl", ["numpy", "torch"])
def test_a_non_finite_pixel_gives_nan_for_its_image_only(
    photos: torch.Tensor, bad: float, impl: str
) -> None:
    x = photos[:3].clone()
    x[1, 0, 5, 7] = bad
    verdict = S.explain_score(x, impl=impl)
    assert verdict.score[1].isnan() and verdict.period[1] == 0 and verdict.where[1] is None
    expected = S.checkerboard_score(photos[[0, 2]], impl=impl)
    torch.testing.assert_close(verdict.score[[0, 2]], expected, atol=1e-3, rtol=0)
    assert S.period_scores(x, impl=impl)[1].isnan().all()
    art, _ = S.artifact_energy(x, impl=impl)
    assert art[1].isnan().all() and art[[0, 2]].isfinite().all()


def test_gradients_flow_and_match_finite_differences() -> None:
    """float64 gradcheck on a small image with a pattern, away from ties between medians."""
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(1, 1, 16, 16, dtype=torch.float64, generator=gen)
    x = x + 0.3 * I.pattern("random", 2, 1, 16, 16, 3).double()
    x.requires_grad_(True)

    def score(t: torch.Tensor) -> torch.Tensor:
        return S.period_scores(t, periods=(2, 4), impl="torch")

    assert (score(x) > 0).all()  # above the 0 dB floor, where the gradient is not zero
    assert torch.autograd.gradcheck(score, (x,), eps=1e-6, atol=1e-5)
    grad = torch.autograd.grad(S.checkerboard_score(x, impl="torch").sum(), x)[0]
    assert grad.isfinite().all() and grad.abs().sum() > 0


def test_auto_takes_torch_when_a_gradient_is_needed() -> None:
    x = torch.rand(1, 1, 32, 32, requires_grad=True)
    score = S.checkerboard_score(x)  # auto: torch, since x needs a gradient
    assert score.requires_grad
    with pytest.raises(ValueError, match="impl='numpy' computes no gradient"):
        S.checkerboard_score(x, impl="numpy")
    with torch.no_grad():
        assert not S.checkerboard_score(x).requires_grad


def test_a_period_4_checkerboard_scores_as_period_4_only() -> None:
    """Its peaks are on the period-8 lattice too, but period 4 owns them: scored there as well,
    they gave period 8's lattice 15 to 21 dB on these 200 draws."""
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(200, 1, 64, 64, generator=gen) + 0.3 * I.pattern("checkerboard", 4, 1, 64, 64, 0)
    verdict = S.explain_score(x)
    assert (verdict.period == 4).all() and set(verdict.where) == {"lattice"}
    assert float(verdict.scores[:, S.PERIODS.index(8), 0].max()) < 6.0


def test_a_faint_period_8_checkerboard_is_not_diluted_by_the_empty_peaks() -> None:
    """Squares of 4 pixels put 73% of their energy on the 4 peaks nearest DC of period 8's 49:
    averaged over all of them, none of these 50 draws reached the threshold (7 to 11 dB)."""
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(50, 1, 64, 64, generator=gen) + 0.1 * I.pattern("checkerboard", 8, 1, 64, 64, 0)
    verdict = S.explain_score(x)
    assert (verdict.score > S.THRESHOLD).all() and (verdict.period == 8).all()
