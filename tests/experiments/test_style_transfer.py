from __future__ import annotations

import pytest
import torch
from PIL import Image
from safetensors.torch import save_file
from torch import nn

from checkerscope.experiments import config as C
from checkerscope.experiments.style_transfer import (
    EXPERIMENT,
    LOSS_RESISTS,
    STYLE_TRANSFER,
    VARIANTS,
    style_photograph,
)
from checkerscope.experiments.stylization import (
    PerceptualLoss,
    StyleGrader,
    StyleObjective,
    TransformerNet,
    calibrate,
    total_variation,
    train_style,
)
from checkerscope.features import RandomFilterBank, RandomMultiScaleCNN, VGG16Features

from .helpers import assert_effect_sizes, assert_resumes_exactly, run_quick

TINY = {
    "steps": 3, "checkpoint_every": 2, "n_train": 8, "n_eval": 4, "width": 4, "blocks": 1,
    "shown": 2, "texture_sizes": [3, 5], "texture_filters": 4, "grader_widths": [4, 8],
    "n_reference": 4, "seeds": 3,
}  # fmt: skip


def test_deconv_variant_is_johnsons_and_both_keep_the_size() -> None:
    net = TransformerNet(width=4, blocks=1, upsample="deconv")
    (up, _) = [m for m in net.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert (up.kernel_size, up.stride, up.padding, up.output_padding) == (
        (3, 3),
        (2, 2),
        (1, 1),
        (1, 1),
    )
    resize = TransformerNet(width=4, blocks=1, upsample="resize_conv")
    assert not any(isinstance(m, nn.ConvTranspose2d) for m in resize.modules())
    x = torch.rand(2, 3, 16, 16)
    assert net(x).shape == resize(x).shape == x.shape
    with pytest.raises(ValueError, match="divisible by 4, got \\(1, 3, 10, 10\\)"):
        net(torch.rand(1, 3, 10, 10))


def test_variants_are_deconv_resize_conv_and_deconv_with_tv() -> None:
    assert VARIANTS == {
        "deconv": ("deconv", False),
        "resize_conv": ("resize_conv", False),
        "deconv_tv": ("deconv", True),
    }


@pytest.mark.parametrize("features", [RandomMultiScaleCNN(widths=(4, 8)),
                                      RandomFilterBank(sizes=(3, 5), filters=4)])  # fmt: skip
def test_perceptual_loss_is_zero_content_for_the_content_and_zero_style_for_the_style(
    features,
) -> None:
    style = torch.rand(3, 16, 16)
    loss = PerceptualLoss(features, style)
    x = torch.rand(2, 3, 16, 16)
    content, style_of_x = loss(x, x)
    _, style_loss = loss(style.expand(2, -1, -1, -1), x)
    assert float(content) == 0.0 and float(style_loss) == pytest.approx(0.0, abs=1e-12)
    assert float(style_of_x) > 1e-6


def test_total_variation_matches_explicit_sums() -> None:
    y = torch.rand(2, 3, 5, 4)
    n = y.shape[0] * y.shape[1]
    dv = sum(float((y[..., i + 1, :] - y[..., i, :]).square().sum()) for i in range(4))
    dh = sum(float((y[..., j + 1] - y[..., j]).square().sum()) for j in range(3))
    expected = dv / (n * 4 * 4) + dh / (n * 5 * 3)
    assert float(total_variation(y)) == pytest.approx(expected, rel=1e-6)


def test_calibration_puts_every_term_in_units_of_the_crops() -> None:
    loss = PerceptualLoss(RandomFilterBank(sizes=(3, 5), filters=4), torch.rand(3, 16, 16))
    crops = torch.rand(5, 3, 16, 16)
    weights = calibrate(loss, crops, style_weight=3.0).with_tv(0.5)
    objective = StyleObjective(loss, weights)
    terms = objective.terms(crops.roll(1, dims=0), crops)
    assert terms["content"] == pytest.approx(1.0, rel=1e-5)
    assert objective.terms(crops, crops) == pytest.approx({"content": 0.0, "style": 1.0, "tv": 1.0})
    content, style = loss(crops, crops)
    tv_part = float(objective(crops, crops)) - 3.0 * float(style) / weights.style_reference
    assert float(content) == 0.0 and tv_part == pytest.approx(0.5, rel=1e-5)
    with pytest.raises(ValueError, match="at least 2 images"):
        calibrate(loss, crops[:1], style_weight=1.0)


def test_grader_reads_the_style_as_stylized_and_never_sees_period_2_checkerboards() -> None:
    torch.manual_seed(0)
    style = torch.rand(3, 24, 24)
    grader = StyleGrader(RandomMultiScaleCNN(widths=(4, 8)), style, period=4)
    contents = torch.rand(4, 3, 24, 24) * 0.5 + 0.1
    assert grader.style_ratio(style.expand(4, -1, -1, -1), contents) == pytest.approx(0.0, abs=1e-6)
    assert grader.content_ratio(contents.roll(1, dims=0), contents) > 0.5
    checker = ((torch.arange(24)[:, None] + torch.arange(24)[None]) % 2 * 2 - 1) * 0.1
    outputs = contents + 0.25 + checker  # a zero-mean period-2 checkerboard
    assert grader.style_ratio(outputs, contents + 0.25) == pytest.approx(1.0, abs=1e-5)
    assert grader.content_ratio(outputs, contents + 0.25) == pytest.approx(0.0, abs=1e-6)
    unfiltered = StyleGrader(RandomMultiScaleCNN(widths=(4, 8)), style)
    assert unfiltered.style_ratio(outputs, contents + 0.25) != pytest.approx(1.0, abs=1e-3)
    with pytest.raises(ValueError, match="N >= 2"):
        grader.content_ratio(contents[:1], contents[:1])


def test_style_training_resumes_exactly(tmp_path) -> None:
    cfg = C.for_scale(C.STYLE_TRANSFER, "quick", {**TINY, "steps": 4})
    loss = PerceptualLoss(RandomFilterBank(sizes=(3,), filters=4), torch.rand(3, 16, 16))
    contents = torch.rand(6, 3, 16, 16)
    objective = StyleObjective(loss, calibrate(loss, contents, 1.0).with_tv(0.1))

    def net() -> TransformerNet:
        torch.manual_seed(0)
        return TransformerNet(cfg.width, cfg.blocks)

    losses = assert_resumes_exactly(
        net,
        lambda n, **kw: train_style(n, objective, contents, cfg, seed=1, **kw),
        tmp_path,
        stop_at=2,
    )
    assert len(losses) == 4


def test_style_photograph_names_the_embedded_ones_when_it_finds_nothing() -> None:
    assert style_photograph("ihc").shape[0] == 3
    with pytest.raises(ValueError, match="style_image must name an embedded photograph"):
        style_photograph("no-such-photo")


def test_quick_run_decides_both_claims_and_writes_figures(tmp_path) -> None:
    results = run_quick(EXPERIMENT, tmp_path, TINY)
    claims = {c["id"]: c for c in results["claims"]}
    assert set(claims) == {STYLE_TRANSFER.id, LOSS_RESISTS.id}
    assert all(isinstance(c["holds"], bool) for c in claims.values())
    assert_effect_sizes(claims.values())
    numbers = results["experiments"]["style_transfer"]
    scores = numbers["score_db_per_seed"]
    style = claims[STYLE_TRANSFER.id]["evidence"]
    assert style["features"] == "random_filter_bank"
    assert style["per_seed"]["values"] == pytest.approx(
        [a - b for a, b in zip(scores["deconv"], scores["resize_conv"], strict=True)]
    )
    tv = claims[LOSS_RESISTS.id]["evidence"]
    assert tv["per_seed"]["values"] == pytest.approx(
        [a - b for a, b in zip(scores["deconv"], scores["deconv_tv"], strict=True)]
    )
    assert tv["score_deconv_tv_minus_resize_conv_db_per_seed"] == pytest.approx(
        [a - b for a, b in zip(scores["deconv_tv"], scores["resize_conv"], strict=True)]
    )
    assert set(tv["style_ratio_per_seed"]) == {"deconv", "deconv_tv"}
    assert len(tv["rule_result"]["guards"]) == 3
    # Same seed, same initialization: the TV network differs from deconv only by its loss.
    init = numbers["score_init_db_per_seed"]
    assert init["deconv"] == init["deconv_tv"] != init["resize_conv"]
    assert all(len(seed) == 4 for s in numbers["score_db"].values() for seed in s)
    for caption in numbers["captions"].values():
        assert "stand-in for VGG-16" in caption or "random multi-scale CNN" in caption
    assert "Ustyuzhaninov" in numbers["captions"]["outputs"]
    for name in numbers["figures"]:
        assert Image.open(tmp_path / name).size[0] > 100


@pytest.mark.slow
def test_vgg_weights_reach_the_experiment_through_the_config(tmp_path) -> None:
    state = {f"features.{k}": t for k, t in VGG16Features().features_net.state_dict().items()}
    path = tmp_path / "vgg16.safetensors"
    save_file(state, str(path))
    overrides = {**TINY, "steps": 1, "n_eval": 2, "vgg_weights": str(path)}
    results = run_quick(EXPERIMENT, tmp_path, overrides)
    assert results["claims"][0]["evidence"]["features"] == "vgg16"
    assert (
        "VGG-16 features (user weights)"
        in results["experiments"]["style_transfer"]["captions"]["outputs"]
    )
    assert results["experiments"]["style_transfer"]["config"]["vgg_weights"] == str(path)
