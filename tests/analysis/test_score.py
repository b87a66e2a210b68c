"""The checkerboard score: its spectrum against brute force, its invariances, and its figures."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from checkerscope.analysis import image_classes as I
from checkerscope.analysis import score as S
from checkerscope.analysis import validation as V
from checkerscope.analysis.lattice import lattice_energy
from checkerscope.analysis.spectra import periodic_rfft2, periodic_smooth, spectrum
from checkerscope.analysis.welch import tile_starts, unit_scale
from checkerscope.data import embedded_photographs, random_crops


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Small FFTs gain nothing from threads, and on a loaded machine they stall on them."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def photos() -> dict[str, torch.Tensor]:
    return embedded_photographs()


@pytest.fixture(scope="module")
def crops(photos: dict[str, torch.Tensor]) -> torch.Tensor:
    return I.quantize(0.1 + 0.8 * random_crops(photos, 12, 128, seed=3))


@settings(max_examples=20, deadline=None)
@given(
    h=st.integers(4, 40),
    w=st.integers(4, 40),
    c=st.sampled_from([1, 2]),
    p=st.sampled_from([2, 4, 8]),
    seed=st.integers(0, 2**16),
)
def test_energy_is_the_lattice_energy_of_the_unit_scaled_image(
    h: int, w: int, c: int, p: int, seed: int
) -> None:
    """One window: the score's energies are the definition's (brute-forced in test_lattice) of
    the image cropped to a multiple of p and brought to unit scale."""
    h, w = max(h, 2 * p), max(w, 2 * p)
    gen = torch.Generator().manual_seed(seed)
    x = 3.0 * torch.rand(c, h, w, generator=gen, dtype=torch.float64)
    art, bg = S.artifact_energy(x, (p,), tile=None, color="mean")
    scale, _ = unit_scale(x[None])
    crop = x[None, :, : h // p * p, : w // p * p] * scale
    ref_art, ref_bg = lattice_energy(crop, (p,))
    torch.testing.assert_close(art, ref_art, rtol=1e-12, atol=0)
    torch.testing.assert_close(bg, ref_bg, rtol=1e-12, atol=0)


def test_periodic_smooth_solves_moisans_equation() -> None:
    """s satisfies laplacian_periodic(s) = v (the edge jumps) with zero mean, and the
    closed-form spectrum equals the transform of the spatial periodic component."""
    x = torch.rand(2, 13, 22, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    p, s = periodic_smooth(x)
    lap = sum(torch.roll(s, k, d) for k in (1, -1) for d in (-1, -2)) - 4 * s
    v = torch.zeros_like(x)
    h, w = x.shape[-2:]
    for j in range(w):
        v[:, 0, j] += x[:, h - 1, j] - x[:, 0, j]
        v[:, h - 1, j] += x[:, 0, j] - x[:, h - 1, j]
    for i in range(h):
        v[:, i, 0] += x[:, i, w - 1] - x[:, i, 0]
        v[:, i, w - 1] += x[:, i, 0] - x[:, i, w - 1]
    torch.testing.assert_close(lap, v - v.mean(dim=(-2, -1), keepdim=True))
    torch.testing.assert_close(s.mean(dim=(-2, -1)), torch.zeros(2, dtype=torch.float64))
    torch.testing.assert_close(p + s, x)
    torch.testing.assert_close(periodic_rfft2(x), torch.fft.rfft2(p))


def test_periodic_component_has_no_border_cross() -> None:
    """A smooth image whose edges do not match, plus white noise: the plain spectrum has a
    bright cross on the axes at high frequencies, the periodic component's has not."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 64), torch.linspace(0, 1, 64), indexing="ij")
    gen = torch.Generator().manual_seed(0)
    image = (torch.sin(2.3 * xx) * torch.cos(1.7 * yy) + xx * yy)[None]
    image = image + 0.01 * torch.randn(1, 64, 64, generator=gen)
    plain = 10 * torch.log10(torch.fft.fft2(image - image.mean()).abs().square()[0])
    periodic = torch.fft.ifftshift(spectrum(image).log_power[0])  # DC back at (0, 0)
    for spec, cross in ((plain, True), (periodic, False)):
        axis = spec[0, 16:48].mean()  # the horizontal frequency axis, high frequencies
        off_axis = spec[5, 16:48].mean()
        assert (axis - off_axis > 10) == cross


def test_spectrum_shapes_and_white_noise_is_flat() -> None:
    s = spectrum(torch.randn(2, 3, 64, 48, generator=torch.Generator().manual_seed(1)))
    assert s.log_power.shape == (2, 64, 48) and s.radial.shape == (2, 25)
    assert s.frequency[-1] == pytest.approx(0.5)
    assert float(s.radial[:, 3:].std()) < 1.0  # dB


@settings(max_examples=20, deadline=None)
@given(
    gain=st.floats(0.01, 100).map(lambda g: g if g > 0 else -g) | st.floats(-100, -0.01),
    offsets=st.lists(st.floats(-10, 10), min_size=3, max_size=3),
    seed=st.integers(0, 100),
)
def test_affine_invariance(gain: float, offsets: list[float], seed: int) -> None:
    """a * x + b scores as x: scalar gain (either sign), per-channel offsets."""
    x = torch.rand(3, 72, 56, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    x[:, ::2, ::2] += 0.05  # something to score
    y = gain * x + torch.tensor(offsets, dtype=torch.float64)[:, None, None]
    for color in S.COLORS:
        torch.testing.assert_close(
            S.period_scores(y, color=color), S.period_scores(x, color=color), atol=1e-6, rtol=0
        )


def test_per_channel_gain_changes_the_score() -> None:
    """The documented limit of the invariance: gains that differ per channel re-weight them."""
    x = torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(0))
    x[0, ::2, ::2] += 0.2  # a pattern in red only
    y = x * torch.tensor([0.1, 1.0, 1.0])[:, None, None]
    assert float(S.checkerboard_score(y)) < float(S.checkerboard_score(x)) - 3


@pytest.mark.parametrize("kind", ["checkerboard", "random"])
@pytest.mark.parametrize("p", [2, 4])
def test_score_grows_monotonically_with_amplitude(crops: torch.Tensor, kind: str, p: int) -> None:
    pats = torch.stack([I.pattern(kind, p, 3, 128, 128, seed=i) for i in range(len(crops))])
    scores = torch.stack(
        [S.checkerboard_score(I.quantize(crops + a * pats)) for a in (0.0, *V.AMPLITUDES)]
    )
    assert (scores.diff(dim=0) > 0).all(), scores


def test_planted_patterns_separate_from_clean_crops(crops: torch.Tensor) -> None:
    clean = S.checkerboard_score(crops)
    planted = torch.cat(
        [
            S.checkerboard_score(I.quantize(crops + 0.01 * I.pattern(k, p, 3, 128, 128, seed=p)))
            for k in ("checkerboard", "random")
            for p in (2, 4)
        ]
    )
    assert V.roc_auc(planted, clean) == 1.0
    assert (clean < S.THRESHOLD).all() and (planted > S.THRESHOLD).all()


def test_dominant_period_is_the_planted_one(crops: torch.Tensor) -> None:
    """A checkerboard of period p has no harmonics on the lattice of p / 2."""
    for p in (2, 4, 8):
        pat = I.pattern("checkerboard", p, 3, 128, 128, 0)
        scores = S.period_scores(I.quantize(crops + 0.04 * pat))
        assert (scores.argmax(dim=1) == S.PERIODS.index(p)).all()


def jpeg(x: torch.Tensor, quality: int) -> torch.Tensor:
    array = (x.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "JPEG", quality=quality)
    return torch.from_numpy(np.asarray(Image.open(io.BytesIO(buffer.getvalue()))).copy())


@pytest.mark.parametrize("quality", [75, 50])
def test_jpeg_photographs_are_not_flagged(photos: dict[str, torch.Tensor], quality: int) -> None:
    for name in ("astronaut", "coffee", "chelsea", "rocket"):
        decoded = jpeg(photos[name], quality).permute(2, 0, 1)  # uint8 (3, H, W)
        assert float(S.checkerboard_score(decoded)) < S.THRESHOLD, name
        assert float(S.block_grid(decoded)) > float(S.block_grid(photos[name])), name


def test_block_grid_against_a_direct_computation() -> None:
    """Banded, integer-input path against the formula written out on the whole float image."""
    x = torch.randint(0, 256, (2, 3, 1100, 40), dtype=torch.uint8, generator=torch.Generator())
    y = S.luma(x.float())[:, 0]
    across = y.diff(dim=-1).square().mean(dim=1)[:, :32].reshape(2, 4, 8).mean(dim=1)
    down = y.diff(dim=-2).square().mean(dim=2)[:, :1096].reshape(2, 137, 8).mean(dim=1)
    offsets = across + down
    expected = 10 * torch.log10((offsets[:, 7] / offsets[:, :7].median(dim=1).values).clamp(min=1))
    torch.testing.assert_close(S.block_grid(x), expected, atol=1e-4, rtol=1e-4)


def test_odd_sizes_batch_and_single_image() -> None:
    gen = torch.Generator().manual_seed(0)
    batch = torch.rand(3, 3, 301, 263, generator=gen)
    batch[1, :, ::2, ::2] += 0.3  # one image with a pattern, on sizes not divisible by 2, 4, 8
    scores = S.checkerboard_score(batch)
    assert scores.shape == (3,)
    assert scores[1] > S.THRESHOLD and (scores[[0, 2]] < S.THRESHOLD).all()
    for i in range(3):
        torch.testing.assert_close(S.checkerboard_score(batch[i]), scores[i : i + 1])


def test_grayscale_equals_the_same_gray_in_rgb() -> None:
    gray = torch.rand(1, 1, 64, 80, generator=torch.Generator().manual_seed(0))
    gray[..., 1::2, ::2] -= 0.1
    rgb = S.period_scores(gray.expand(1, 3, 64, 80))
    torch.testing.assert_close(rgb, S.period_scores(gray), atol=1e-4, rtol=0)


def test_integer_input_scores_as_float() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (2, 3, 96, 64), dtype=torch.uint8, generator=gen)
    x[..., ::2, :] //= 2  # something above 0 dB to compare
    expected = S.period_scores(x.float() / 255)
    assert (expected > 3).all()
    torch.testing.assert_close(S.period_scores(x), expected, atol=1e-3, rtol=0)


def test_tiles_are_welch_sums_of_their_windows() -> None:
    x = torch.rand(1, 1, 300, 520, generator=torch.Generator().manual_seed(2))
    art, bg = S.artifact_energy(x, (2, 4), tile=256)
    parts = [
        S.artifact_energy(x[..., i : i + 256, j : j + 256], (2, 4), tile=None)
        for i in tile_starts(300, 256)
        for j in tile_starts(520, 256)
    ]
    torch.testing.assert_close(art, sum(a for a, _ in parts))
    torch.testing.assert_close(bg, sum(b for _, b in parts))


def test_tiling_keeps_a_pattern_on_the_scale_of_one_tile() -> None:
    """Untiled, the same faint pattern scores higher on a bigger image; tiled, about the same.

    Averaged over images: a period-2 score rests on single (real) bins, whose noise makes one
    256 x 256 image's score swing by a few dB at this faint level; 16 tiles average it out."""
    gen = torch.Generator().manual_seed(0)
    small, big = (
        torch.rand(8, 1, 256, 256, generator=gen),
        torch.rand(2, 1, 1024, 1024, generator=gen),
    )
    for x in (small, big):
        x[..., ::2, ::2] += 0.02
    tiled = [float(S.checkerboard_score(x).mean()) for x in (small, big)]
    whole = [float(S.checkerboard_score(x, tile=None).mean()) for x in (small, big)]
    assert abs(tiled[1] - tiled[0]) < 1.5
    assert whole[1] > whole[0] + 9  # 16x the area: about +12 dB


def test_map_finds_where_the_pattern_is() -> None:
    x = torch.rand(1, 3, 128, 192, generator=torch.Generator().manual_seed(0))
    x[..., :64, :64] += 0.1 * I.pattern("checkerboard", 2, 3, 64, 64, 0)
    m = S.checkerboard_map(x, period=2, window=64, stride=64)
    assert m.shape == (1, 2, 3)
    assert m[0, 0, 0] > S.THRESHOLD and (m.flatten()[1:] < S.THRESHOLD).all()
    torch.testing.assert_close(m[0, 1, 2], S.checkerboard_score(x[..., 64:, 128:], period=2)[0])


def test_gradient_of_strided_convolutions_is_a_checkerboard() -> None:
    torch.manual_seed(0)
    strided = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, stride=2), torch.nn.ReLU(), torch.nn.Conv2d(16, 1, 3, stride=2)
    )
    pooled = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.AvgPool2d(2),
        torch.nn.Conv2d(16, 1, 3, padding=1),
    )
    x = torch.rand(2, 3, 64, 64)
    assert (S.gradient_checkerboard(strided, x) > S.THRESHOLD).all()
    assert (S.gradient_checkerboard(pooled, x) < S.THRESHOLD).all()
    assert x.grad is None and all(p.grad is None for p in strided.parameters())


def test_constant_image_scores_zero() -> None:
    assert float(S.checkerboard_score(torch.full((3, 32, 32), 0.5))) == 0.0
    assert float(S.block_grid(torch.zeros(1, 32, 32))) == 0.0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu() -> None:
    x = torch.rand(2, 3, 100, 90)
    torch.testing.assert_close(
        S.period_scores(x.cuda()).cpu(), S.period_scores(x), atol=1e-3, rtol=0
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: S.checkerboard_score(torch.rand(3, 64, 64), period=0),
            "period must be a positive",
        ),
        (lambda: S.checkerboard_score(torch.rand(3, 64, 64), period=1), "must be integers >= 2"),
        (lambda: S.checkerboard_score(torch.rand(3, 12, 64), period=8), "at least 16 pixels"),
        (lambda: S.checkerboard_score(torch.rand(3, 3, 64)), "at least 4x4"),
        (lambda: S.checkerboard_score(torch.rand(64, 64)), "must have shape"),
        (lambda: S.checkerboard_score([[0.0]]), "must be a torch.Tensor"),
        (lambda: S.checkerboard_score(torch.rand(3, 64, 64), color="rgb"), "color must be one"),
        (lambda: S.checkerboard_score(torch.rand(3, 64, 64), tile=0), "tile must be a positive"),
        (lambda: S.block_grid(torch.rand(1, 8, 64)), "at least 16x16"),
        (lambda: S.checkerboard_map(torch.rand(1, 32, 32), window=64), "window must be at most"),
    ],
)
def test_bad_arguments_raise_value_errors(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_metrics_registry_names_units_and_directions() -> None:
    from checkerscope.analysis.metrics import METRICS, Metric, get_metric, register

    score = get_metric("checkerboard_score")
    assert score.unit == "dB" and score.higher_is_worse and score.threshold == S.THRESHOLD
    assert score.format(14.25) == "14.2 dB" and score.is_bad(S.THRESHOLD + 1)
    assert not get_metric("block_grid").is_bad(100.0)  # reported, never flagged
    x = torch.rand(1, 3, 32, 32)
    torch.testing.assert_close(score(x), S.checkerboard_score(x))
    assert {"checkerboard_score", "block_grid", "gradient_checkerboard", "tone_score"} <= set(
        METRICS
    )
    tone = get_metric("tone_score")
    assert tone.unit == "dB" and tone.threshold == S.THRESHOLD
    n = torch.arange(8000)
    buzz = torch.sin(0.05 * n) + 0.1 * torch.cos(torch.pi * n / 2)  # fs / 4: a stride-4 tone
    assert tone.is_bad(float(tone(buzz[None], sample_rate=8000).score))
    with pytest.raises(ValueError, match=r"metric must be one of .* got 'nope'"):
        get_metric("nope")
    with pytest.raises(ValueError, match="already registered"):
        register(Metric("block_grid", S.block_grid, "dB", True, "again"))


def test_gradient_of_a_model_with_one_logit_per_image() -> None:
    """A discriminator returning shape (B,) is scored like one returning (B, 1)."""
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 1, 3, stride=2)

    def per_image(x: torch.Tensor) -> torch.Tensor:
        return conv(x).flatten(1).sum(1)

    x = torch.rand(2, 3, 64, 64)
    torch.testing.assert_close(
        S.gradient_checkerboard(per_image, x), S.gradient_checkerboard(conv, x)
    )


def test_periods_whose_lcm_exceeds_the_image_are_refused() -> None:
    with pytest.raises(ValueError, match=r"lcm 12"):
        S.period_scores(torch.rand(1, 8, 8), (2, 3, 4))


# --- one pipeline, two implementations --------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(
    h=st.integers(4, 600),
    w=st.integers(4, 600),
    amplitude=st.sampled_from([0.0, 0.05]),
    seed=st.integers(0, 2**16),
)
def test_numpy_and_torch_implementations_agree(h: int, w: int, amplitude: float, seed: int) -> None:
    """Any size, one window or several: the NumPy fast path and the torch definition give the
    same scores, and "auto" takes NumPy for one grey CPU image (what a scan scores)."""
    x = torch.rand(1, h, w, generator=torch.Generator().manual_seed(seed))
    x[..., ::2, ::2] += amplitude
    fast = S.period_scores(x, impl="numpy")
    assert torch.equal(S.period_scores(x), fast)  # auto is numpy here
    torch.testing.assert_close(fast, S.period_scores(x, impl="torch"), atol=2e-3, rtol=0)


def test_explain_score_is_the_score_with_its_period_and_place() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(4, 1, 96, 128, generator=gen)
    x[0, :, ::2, ::2] += 0.2  # the 2-D lattice of period 2
    x[1, :, 1::4, :] += 0.2  # a row in four
    x[2, :, :, ::8] += 0.3  # a column in eight
    verdict = S.explain_score(x)
    torch.testing.assert_close(verdict.score, S.checkerboard_score(x))
    torch.testing.assert_close(verdict.scores.amax(dim=2), S.period_scores(x))
    assert verdict.periods == S.PERIODS and verdict.scores.shape == (4, 3, 3)
    assert verdict.period[:3].tolist() == [2, 4, 8]
    assert verdict.where[:3] == ("lattice", "rows", "columns")
    assert (verdict.score[:3] > S.THRESHOLD).all() and verdict.score[3] < S.THRESHOLD
