from __future__ import annotations

import pytest
import torch
from PIL import Image
from safetensors.torch import save_file
from torch import nn

from checkerscope.experiments import config as C
from checkerscope.experiments.style_transfer import (
    CLAIM,
    EXPERIMENT,
    PerceptualLoss,
    TransformerNet,
    train_style,
)
from checkerscope.features import RandomMultiScaleCNN, VGG16Features

from .helpers import assert_resumes_exactly, only_claim, run_quick

TINY = {
    "steps": 3, "checkpoint_every": 2, "n_train": 8, "n_eval": 4, "width": 4, "blocks": 1,
    "style_size": 32, "shown": 2, "feature_widths": [8, 16], "seeds": 3,
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


def test_perceptual_loss_is_zero_content_for_the_content_and_zero_style_for_the_style() -> None:
    style = torch.rand(3, 16, 16)
    loss = PerceptualLoss(RandomMultiScaleCNN(widths=(4, 8)), style)
    x = torch.rand(2, 3, 16, 16)
    content, _ = loss(x, x)
    _, style_loss = loss(style.expand(2, -1, -1, -1), x)
    assert float(content) == 0.0 and float(style_loss) == pytest.approx(0.0, abs=1e-12)


def test_style_training_resumes_exactly(tmp_path) -> None:
    cfg = C.for_scale(C.STYLE_TRANSFER, "quick", {**TINY, "steps": 4, "feature_widths": (4, 8)})
    loss = PerceptualLoss(RandomMultiScaleCNN(widths=(4, 8)), torch.rand(3, 16, 16))
    contents = torch.rand(6, 3, 16, 16)

    def net() -> TransformerNet:
        torch.manual_seed(0)
        return TransformerNet(cfg.width, cfg.blocks)

    assert_resumes_exactly(
        net,
        lambda n, **kw: train_style(n, loss, contents, cfg, seed=1, **kw),
        tmp_path,
        stop_at=2,
    )


def test_quick_run_decides_the_claim_and_writes_figures(tmp_path) -> None:
    results = run_quick(EXPERIMENT, tmp_path, TINY)
    evidence = only_claim(results, CLAIM.id)
    assert evidence["features"] == "random_multiscale_cnn"
    assert all(set(x) == {"deconv", "resize_conv"} for x in evidence["held_out_loss_per_seed"])
    ratios = evidence["rule_result"]["guards"]["held-out loss ratio, larger over smaller"]
    assert len(ratios["values"]) == 3 and min(ratios["values"]) >= 1
    numbers = results["experiments"]["style_transfer"]
    assert all(len(seed) == 4 for s in numbers["score_db"].values() for seed in s)
    assert "stand-in for VGG-16" in numbers["captions"]["outputs"]
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
