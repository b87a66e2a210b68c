from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import checkerscope
from checkerscope.analysis.loss import SCALE, CheckerboardLoss, checkerboard_loss, lattice_energies
from checkerscope.analysis.score import artifact_energy, checkerboard_score, to_decibels
from checkerscope.analysis.score1d import artifact_energy_1d, checkerboard_score_1d
from checkerscope.data import ImageSource


def photos(n: int = 8, size: int = 32) -> torch.Tensor:
    return ImageSource().crops(n, size, seed=3) * 2 - 1


def planted(x: torch.Tensor, period: int = 2, amplitude: float = 0.2) -> torch.Tensor:
    """``x`` plus a checkerboard of ``period`` along its last axes."""
    y = x.clone()
    if x.dim() == 3:
        y[..., ::period] += amplitude
    else:
        y[..., ::period, ::period] += amplitude
    return y


def test_exported_from_the_package() -> None:
    assert checkerscope.checkerboard_loss is checkerboard_loss
    assert checkerscope.CheckerboardLoss is CheckerboardLoss


def test_energies_are_the_scores_energies() -> None:
    x = photos(3)
    art, bg = lattice_energies(x)
    ref_art, ref_bg = artifact_energy(x, (2, 4, 8), impl="numpy")
    assert art.shape == (3, 9)
    torch.testing.assert_close(art, ref_art.flatten(1), rtol=1e-4, atol=0)
    torch.testing.assert_close(bg, ref_bg.flatten(1), rtol=1e-4, atol=0)
    # the score read off them is the score
    score = to_decibels(art, bg).amax(dim=1)
    torch.testing.assert_close(score, checkerboard_score(x), rtol=1e-4, atol=1e-4)
    signals = torch.randn(2, 1, 512)
    art, bg = lattice_energies(signals)
    ref_art, ref_bg = artifact_energy_1d(signals)
    torch.testing.assert_close(art, ref_art)
    torch.testing.assert_close(to_decibels(art, bg).amax(dim=1), checkerboard_score_1d(signals))


def test_volumes_sum_the_energies_of_their_slices() -> None:
    v = torch.randn(2, 1, 3, 16, 16)
    art, bg = lattice_energies(v)
    for d in range(3):
        a, b = artifact_energy(v[:, :, d], None, impl="torch")  # type: ignore[arg-type]
        if d == 0:
            total_a, total_b = a.flatten(1), b.flatten(1)
        else:
            total_a, total_b = total_a + a.flatten(1), total_b + b.flatten(1)
    torch.testing.assert_close(art, total_a)
    torch.testing.assert_close(bg, total_b)


def test_definition_from_the_energies() -> None:
    x = planted(photos(4), 4)
    art, bg = lattice_energies(x)
    expected = SCALE * torch.log(torch.clamp(art / bg, min=1)).sum(dim=1)
    torch.testing.assert_close(checkerboard_loss(x, reduction="none"), expected)


@pytest.mark.parametrize("shape", [(2, 3, 32, 32), (2, 1, 4096), (1, 2, 2, 16, 16)])
def test_large_on_planted_patterns_small_on_clean(shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    clean = torch.randn(shape)
    pattern = planted(clean, 2, 1.0)
    cost, base = float(checkerboard_loss(pattern)), float(checkerboard_loss(clean))
    assert base < 2 * SCALE and cost > 10 * SCALE and cost > 8 * base
    # a strong pattern costs about its score in nepers
    score = checkerboard_score(pattern) if len(shape) == 4 else None
    if score is not None:
        assert float(checkerboard_loss(pattern)) >= SCALE * float(score.mean()) / 8.69 * 0.99


def test_nearest_upsampled_content_costs_nothing() -> None:
    small = F.avg_pool2d(photos(8, 64), 4)
    enlarged = F.interpolate(small, scale_factor=4, mode="nearest")
    # x4 pixel repetition has zeros on the period-2 and period-4 lattices and axes
    assert float(checkerboard_loss(enlarged, periods=(2, 4), reduction="sum")) < 1e-3 * SCALE
    signal = torch.randn(4, 1, 128).repeat_interleave(2, dim=-1)
    assert float(checkerboard_loss(signal, periods=(2,), reduction="sum")) == 0.0


def test_ordinary_high_frequencies_are_not_penalised() -> None:
    """Edges, texture and noise lift the background with the peaks: photographs and white noise
    cost little, a high-pass of them too, while the same energy on the lattice costs a lot."""
    x = photos(16)
    sharp = x - F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), 3, stride=1)
    pattern = planted(torch.zeros_like(sharp), 2, 1.0)
    pattern = pattern * sharp.std() / pattern.std()  # the same power as the high-pass
    for clean in (x, sharp, torch.randn(16, 3, 32, 32)):
        assert float(checkerboard_loss(clean)) < SCALE
    assert float(checkerboard_loss(sharp + pattern)) > 10 * SCALE


def test_reductions_and_module() -> None:
    x = planted(photos(4), 2, 0.1)
    per_item = checkerboard_loss(x, reduction="none")
    assert per_item.shape == (4,)
    torch.testing.assert_close(checkerboard_loss(x), per_item.mean())
    torch.testing.assert_close(checkerboard_loss(x, reduction="sum"), per_item.sum())
    module = CheckerboardLoss(periods=(2, 4), reduction="sum", color="mean")
    torch.testing.assert_close(module(x), checkerboard_loss(x, (2, 4), "sum", color="mean"))
    assert "periods=(2, 4)" in repr(module) and "'sum'" in repr(module)


def test_invariant_to_gain_and_offset() -> None:
    x = planted(photos(2), 2, 0.1)
    torch.testing.assert_close(checkerboard_loss(3 * x + 0.5), checkerboard_loss(x), rtol=1e-4,
                               atol=1e-8)  # fmt: skip


def test_non_contiguous_input() -> None:
    x = planted(photos(2), 2, 0.1)
    t = x.transpose(-1, -2).contiguous().transpose(-1, -2)
    assert not t.is_contiguous()
    torch.testing.assert_close(checkerboard_loss(t), checkerboard_loss(x))


def test_non_finite_items_give_nan_alone() -> None:
    x = photos(2)
    x[1, 0, 3, 3] = math.nan
    loss = checkerboard_loss(x, reduction="none")
    assert math.isfinite(float(loss[0])) and math.isnan(float(loss[1]))


@pytest.mark.parametrize("shape, periods", [((2, 1, 8, 8), (2, 4)), ((2, 2, 16), (2, 4)),
                                            ((1, 1, 2, 8, 8), (2,))])  # fmt: skip
def test_gradcheck(shape: tuple[int, ...], periods: tuple[int, ...]) -> None:
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(shape, generator=gen, dtype=torch.float64) * 0.3 + 0.1
    x = planted(x, 2, 0.15).requires_grad_()  # ratios well above 1: away from the floor's kink
    assert torch.autograd.gradcheck(lambda t: checkerboard_loss(t, periods, reduction="sum"), (x,))


def test_gradient_lowers_the_pattern() -> None:
    x = planted(photos(4), 2, 0.2).requires_grad_()
    loss = checkerboard_loss(x)
    loss.backward()
    stepped = (x - 0.05 / SCALE * x.grad).detach()
    assert float(checkerboard_loss(stepped)) < float(loss.detach())
    assert float(checkerboard_score(stepped).mean()) < float(checkerboard_score(x.detach()).mean())


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: checkerboard_loss([1.0]), "x must be a torch.Tensor, got list"),
        (lambda: checkerboard_loss(torch.rand(4, 4)), "x must be signals (B, C, L), images"),
        (lambda: checkerboard_loss(torch.rand(1, 1, 8, 8), reduction="max"),
         "reduction must be one of 'mean', 'sum', 'none', got 'max'"),
        (lambda: checkerboard_loss(torch.rand(1, 1, 8, 8), periods=(8,)),
         "periods [8] need images at least 16 pixels on each side, got 8x8"),
        (lambda: checkerboard_loss(torch.rand(1, 1, 3)),
         "x must be at least 4 samples long to hold a period-2 pattern, got 3"),
        (lambda: checkerboard_loss(torch.rand(1, 3, 8, 8), color="red"),
         "color must be one of 'luma', 'mean', got 'red'"),
        (lambda: CheckerboardLoss(reduction="avg"), "reduction must be one of"),
        (lambda: CheckerboardLoss(color="hsv"), "color must be one of"),
    ],
)  # fmt: skip
def test_bad_input_names_the_argument(call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError) as err:
        call()
    assert message in str(err.value)
