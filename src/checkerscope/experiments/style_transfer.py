"""``style_transfer``: a feed-forward style-transfer network, with deconvolution or resize-conv.

Odena et al. (2016): networks "trained to directly generate style-transferred images" are
"vulnerable to checkerboard artifacts (especially when the cost doesn't explicitly resist
them)", and "switching deconvolutional layers for resize-convolution layers makes the
artifacts disappear". Here the network of Johnson, Alahi & Fei-Fei (2016) (9x9 conv, two 3x3
stride-2 convs, residual blocks, two x2 upsamplers, 9x9 conv; instance normalization, as in
pytorch/examples ``fast_neural_style``) is trained twice from the same seed, data order and
optimiser (Adam, lr 1e-3): with 3x3 stride-2 transposed convolutions (Johnson's) and with
nearest resize-convolutions (3x3). No total-variation term: the cost does not resist
checkerboards.

Perceptual loss: a fixed feature network, Gram matrices of every layer for style, one layer
for content (Johnson et al.). By default that network is
:class:`checkerscope.features.RandomMultiScaleCNN` with weights drawn from ``feature_seed``
(random shallow networks suffice for Gram-matrix textures: Ustyuzhaninov et al. 2017); with
``vgg_weights`` (``--vgg-weights FILE``) it is VGG-16 with the user's weights
(:class:`checkerscope.features.VGG16Features`, style relu1_2/2_2/3_3/4_3, content relu2_2).
Content: crops of the data; style: the photograph with the highest mean saturation (strong
colours are where checkerboards show most), resized to ``style_size`` pixels on its short side.
Both networks then stylize the same held-out crops; the claim compares the checkerboard scores
of these outputs, at comparable held-out losses, seed by seed (each seed trains both networks
from its own initialization and data order). Training checkpoints every ``checkpoint_every``
steps and resumes exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from checkerscope.experiments import config as C
from checkerscope.experiments.common import train_on_batches
from checkerscope.experiments.decision import Claim, Effect, Guard, MeanInterval, differences
from checkerscope.experiments.runner import Bar, Context, Experiment, ExperimentResult
from checkerscope.report.figures.style_transfer import loss_curves, stylized

LOSS_FACTOR = 2.0
"""Two trainings are of comparable quality when the larger held-out loss is at most this
factor times the smaller."""
CLAIM = Claim(
    "style_transfer",
    "A feed-forward style-transfer network (Johnson et al. 2016) trained with 3x3 stride-2 "
    "transposed convolutions stylizes held-out content crops with a higher checkerboard score "
    "than the same network trained the same way with nearest resize-convolutions, seed by "
    f"seed, at comparable training quality: their held-out perceptual losses are within a "
    f"factor {LOSS_FACTOR:g}.",
    Effect("held-out output score, deconv - resize-conv", "dB"),
    MeanInterval(0.0),
    guards=(Guard("held-out loss ratio, larger over smaller", at_most=LOSS_FACTOR),),
)
CONTENT_INDEX = 1
"""Which feature map carries the content loss: relu2_2 of VGG-16, stage 2 of the random CNN."""


def _conv(c_in: int, c_out: int, k: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.ReflectionPad2d(k // 2),
        nn.Conv2d(c_in, c_out, k, stride),
        nn.InstanceNorm2d(c_out, affine=True),
    )


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with instance norm and a skip (Johnson et al. 2016)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.a, self.b = _conv(channels, channels, 3), _conv(channels, channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.b(F.relu(self.a(x)))


class TransformerNet(nn.Module):
    """Johnson et al.'s (2016) image transformation network with a configurable upsampler.

    (N, 3, H, W) -> (N, 3, H, W), H and W divisible by 4. Channels ``width``, ``2 width``,
    ``4 width``; ``upsample`` is a kind of :func:`checkerscope.nn.upsampler` with a 3x3
    kernel ("deconv": ``ConvTranspose2d(k=3, s=2, p=1, output_padding=1)``, Johnson's).

    Example:
        >>> TransformerNet(width=4, blocks=1)(torch.rand(1, 3, 16, 16)).shape
        torch.Size([1, 3, 16, 16])
    """

    def __init__(self, width: int = 32, blocks: int = 5, upsample: str = "deconv") -> None:
        super().__init__()
        from checkerscope.nn import upsampler

        w = width
        self.encode = nn.Sequential(
            _conv(3, w, 9), nn.ReLU(), _conv(w, 2 * w, 3, 2), nn.ReLU(), _conv(2 * w, 4 * w, 3, 2),
            nn.ReLU(), *[ResidualBlock(4 * w) for _ in range(blocks)],
        )  # fmt: skip
        self.decode = nn.Sequential(
            upsampler(upsample, 4 * w, 2 * w, kernel_size=3),
            nn.InstanceNorm2d(2 * w, affine=True),
            nn.ReLU(),
            upsampler(upsample, 2 * w, w, kernel_size=3),
            nn.InstanceNorm2d(w, affine=True),
            nn.ReLU(),
            nn.ReflectionPad2d(4),
            nn.Conv2d(w, 3, 9),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != 3 or x.shape[2] % 4 or x.shape[3] % 4:
            raise ValueError(
                f"x must have shape (N, 3, H, W) with H and W divisible by 4, got {tuple(x.shape)}"
            )
        return self.decode(self.encode(x))


def feature_network(cfg: C.StyleTransferConfig) -> nn.Module:
    """VGG-16 from ``cfg.vgg_weights`` if given, else the random multi-scale CNN."""
    from checkerscope.features import RandomMultiScaleCNN, VGG16Features

    if cfg.vgg_weights:
        return VGG16Features.from_file(cfg.vgg_weights)
    return RandomMultiScaleCNN(widths=cfg.feature_widths, seed=cfg.feature_seed)


def strongest_colours(images: list[torch.Tensor]) -> int:
    """Index of the image with the highest mean HSV saturation."""
    sat = [((im.amax(0) - im.amin(0)) / im.amax(0).clamp_min(1e-6)).mean() for im in images]
    return int(torch.stack(sat).argmax())


class PerceptualLoss(nn.Module):
    """Johnson et al.'s loss: content (feature MSE at one layer) + style (Gram MSE, all layers).

    ``forward(y, x)`` -> (content, style) for outputs ``y`` and contents ``x`` (N, 3, H, W).
    """

    def __init__(self, features: nn.Module, style: torch.Tensor) -> None:
        super().__init__()
        from checkerscope.features import gram_matrix

        self.features = features.requires_grad_(False)
        with torch.no_grad():
            self.grams = [gram_matrix(f) for f in features(style[None])]

    def forward(self, y: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        from checkerscope.features import gram_matrix

        fy = self.features(y)
        with torch.no_grad():
            fx = self.features(x)[CONTENT_INDEX]
        content = F.mse_loss(fy[CONTENT_INDEX], fx)
        style = sum(
            F.mse_loss(gram_matrix(f), g.expand(f.shape[0], -1, -1))
            for f, g in zip(fy, self.grams, strict=True)
        )
        return content, style  # type: ignore[return-value]


def train_style(
    net: nn.Module,
    loss: PerceptualLoss,
    contents: torch.Tensor,
    cfg: C.StyleTransferConfig,
    *,
    seed: int,
    checkpoint: Path,
    bar: Bar | None = None,
) -> list[float]:
    """Train ``net`` on ``contents`` (N, 3, H, W) in [0, 1]; return the total loss per step.

    Batches come from a generator seeded with ``seed``; every ``cfg.checkpoint_every`` steps
    the network, the optimiser, the generator, the global random states and the losses are
    saved to ``checkpoint``, and a run finding it continues from it.
    """

    def batch_loss(index: torch.Tensor) -> torch.Tensor:
        x = contents[index]
        content, style = loss(net(x), x)
        return cfg.content_weight * content + cfg.style_weight * style

    return train_on_batches(
        net, batch_loss, contents.shape[0], cfg, seed=seed, checkpoint=checkpoint, bar=bar
    )


def one_seed(
    cfg: C.StyleTransferConfig,
    loss: PerceptualLoss,
    contents: torch.Tensor,
    held_out: torch.Tensor,
    seed: int,
    ctx: Context,
) -> dict[str, dict[str, Any]]:
    """Both networks trained from ``seed``: each one's held-out outputs, their scores, the
    held-out losses and the training curve."""
    from checkerscope.analysis.score import checkerboard_score

    out = {}
    for variant in cfg.variants:
        torch.manual_seed(seed + 2)
        net = TransformerNet(cfg.width, cfg.blocks, upsample=variant).to(ctx.device)
        curve = train_style(
            net,
            loss,
            contents.to(ctx.device),
            cfg,
            seed=seed + 3,
            checkpoint=ctx.checkpoint_dir / f"{variant}_seed{seed}.pt",
        )
        with torch.no_grad():
            y = net.eval()(held_out.to(ctx.device))
            content, style_loss = loss(y, held_out.to(ctx.device))
        out[variant] = {
            "outputs": y.cpu()[: cfg.shown],
            "scores": checkerboard_score(y.cpu()).tolist(),
            "held_out_loss": {
                "content": float(content),
                "style": float(style_loss),
                "total": float(cfg.content_weight * content + cfg.style_weight * style_loss),
            },
            "curve": curve,
        }
    return out


def run(ctx: Context) -> ExperimentResult:
    from checkerscope.analysis.score import checkerboard_score

    cfg: C.StyleTransferConfig = ctx.config
    contents = ctx.data.crops(cfg.n_train, cfg.image_size, seed=ctx.seed)
    held_out = ctx.data.crops(cfg.n_eval, cfg.image_size, seed=ctx.seed + 1)
    images = ctx.data.images()
    style_index = strongest_colours(images)
    style = images[style_index]
    side = min(style.shape[-2:])
    style = F.interpolate(
        style[None], scale_factor=cfg.style_size / side, mode="bilinear", antialias=True
    )[0].clamp(0, 1)
    loss = PerceptualLoss(feature_network(cfg), style).to(ctx.device)
    seeds = ctx.seeds(cfg.seeds)
    per = ctx.map(
        lambda s: one_seed(cfg, loss, contents, held_out, s, ctx), seeds, "train networks"
    )

    def mean_score(variant: str) -> list[float]:
        return [sum(p[variant]["scores"]) / len(p[variant]["scores"]) for p in per]

    totals = [[p[v]["held_out_loss"]["total"] for v in ("deconv", "resize_conv")] for p in per]
    features = "vgg16" if cfg.vgg_weights else "random_multiscale_cnn"
    data_score = float(checkerboard_score(held_out).mean())
    ctx.decide(
        CLAIM.id,
        per_seed=differences(mean_score("deconv"), mean_score("resize_conv")),
        guards={
            "held-out loss ratio, larger over smaller": [
                max(t) / min(t) if min(t) > 0 else float("inf") for t in totals
            ]
        },
        evidence={
            "features": features,
            "score_mean_db_per_seed": {v: mean_score(v) for v in cfg.variants},
            "held_out_loss_per_seed": [
                {v: p[v]["held_out_loss"] for v in cfg.variants} for p in per
            ],
            "data_score_db": data_score,
            "steps": cfg.steps,
        },
    )
    numbers: dict[str, Any] = {
        "features": features,
        "style_image": style_index,
        "score_db": {v: [p[v]["scores"] for p in per] for v in cfg.variants},
        "score_mean_db": {v: sum(mean_score(v)) / len(per) for v in cfg.variants},
        "held_out_loss": {v: [p[v]["held_out_loss"] for p in per] for v in cfg.variants},
        "loss_curves": {v: per[0][v]["curve"] for v in cfg.variants},
        "data_score_db": data_score,
    }
    stand_in = (
        "VGG-16 features (user weights)"
        if cfg.vgg_weights
        else "random multi-scale CNN features, a stand-in for VGG-16"
    )
    captions = {
        "outputs": "Held-out content crops stylized by the network with transposed "
        "convolutions and with resize-convolutions (same training, first seed), with the style "
        f"image; the loss uses {stand_in}. Checkerboard score above each output.",
        "losses": f"Training loss (content + style, on {stand_in}) of both networks, first seed.",
    }
    figures = {
        "outputs": stylized(
            held_out[: cfg.shown], style, {v: per[0][v]["outputs"] for v in cfg.variants},
            {v: per[0][v]["scores"][: cfg.shown] for v in cfg.variants},
        ),
        "losses": loss_curves({v: per[0][v]["curve"] for v in cfg.variants}),
    }  # fmt: skip
    return ExperimentResult(numbers, figures, captions)


EXPERIMENT = Experiment(
    id="style_transfer",
    title="Feed-forward style transfer: deconvolution vs resize-convolution",
    claims=(CLAIM,),
    configs=C.STYLE_TRANSFER,
    run=run,
    budget=C.BUDGETS["style_transfer"],
)
