"""``feature_vis``: feature visualization of a strided-conv classifier, with and without jitter.

Odena et al. (2016): the checkerboard in the gradients of strided convolutions is "a major
challenge" of feature visualization, and "the 'jitter' of optimizing at different offsets
cancels out some of the checkerboard artifacts" (Mordvintsev et al. 2015, DeepDream; Olah et
al. 2017, "Feature Visualization"); better architectures might make such remedies unnecessary.

No labels come with the data, so the classifier learns a self-supervised task: which
photograph a crop comes from (one class per image at least ``image_size`` on a side; crops
favour strong colours). Two :class:`checkerscope.models.StridedClassifier` are trained the same
way from the same seed, data order and optimiser: one with 3x3 stride-2 convolutions, one with
anti-aliased downsampling (conv + blur-pool). Then, for the ``channels`` channels of the last
stage most active on held-out crops, the channel's mean pre-ReLU activation is maximized by
gradient ascent on the pixels (DeepDream's normalized steps), starting from the same faint noise:

* ``plain``: the strided classifier, the image fed as it is;
* ``jitter``: the strided classifier, the image rolled by a random offset of 0 to
  ``jitter - 1`` pixels on each axis at every step (Lucid's ``jitter``; 8 covers every phase
  of the classifier's stride-8 grid evenly);
* ``antialiased``: the anti-aliased classifier, no jitter.

Each visualization gets the checkerboard score of its channel-averaged power spectrum
(``color="mean"``: a visualization is no JPEG photograph, so no chroma subsampling to ignore).
The seed is the unit: everything above runs once per seed (data, classifiers, start images),
and each seed gives one effect, the smaller of plain's mean score over jitter's and over the
anti-aliased classifier's. Training checkpoints every ``checkpoint_every`` steps and resumes
exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from checkerscope.experiments import config as C
from checkerscope.experiments.common import train_on_batches
from checkerscope.experiments.decision import Claim, Effect, MeanInterval
from checkerscope.experiments.runner import Bar, Context, Experiment, ExperimentResult
from checkerscope.report.figures.gradients import visualizations

CLAIM = Claim(
    "feature_vis_jitter",
    lambda cfg: (
        "Feature visualizations by gradient ascent on a classifier with 3x3 stride-2 "
        "convolutions, trained to tell the photographs apart, carry a higher checkerboard score "
        f"than with jitter (random shifts by 0 to {cfg.jitter - 1} px per axis and step) and than "
        "on the same classifier with anti-aliased downsampling (mean score over the visualized "
        "channels, seed by seed; each seed trains its own classifiers)."
    ),
    Effect(
        "score margin of plain visualizations over jittered and anti-aliased ones (the smaller)",
        "dB",
    ),
    MeanInterval(0.0),
)
METHODS = ("plain", "jitter", "antialiased")
SHOWN = 8
"""Visualizations per method in the figure."""


def photo_id_data(
    images: list[torch.Tensor], n_per_image: int, size: int, seed: int, strong_colors: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Crops (N, 3, size, size) in [-1, 1] and their labels (N,): the index of the photograph.

    Example:
        >>> x, y = photo_id_data([torch.rand(3, 40, 40)] * 2, 3, 16, seed=0, strong_colors=True)
        >>> x.shape, y.tolist()
        (torch.Size([6, 3, 16, 16]), [0, 0, 0, 1, 1, 1])
    """
    from checkerscope.data import random_crops

    crops = [
        random_crops([im], n_per_image, size, seed + 7919 * k, strong_colors)
        for k, im in enumerate(images)
    ]
    labels = torch.arange(len(images)).repeat_interleave(n_per_image)
    return torch.cat(crops) * 2 - 1, labels


def train_classifier(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    cfg: C.FeatureVisConfig,
    *,
    seed: int,
    checkpoint: Path,
    bar: Bar | None = None,
) -> list[float]:
    """Train ``model`` on (x, y) with Adam and cross-entropy; return the loss per step.

    Batches of ``cfg.batch_size`` are drawn from a generator seeded with ``seed``; every
    ``cfg.checkpoint_every`` steps the model, the optimiser, the generator, the global random
    states and the losses are saved to ``checkpoint``, and a run finding it continues from it.
    """
    return train_on_batches(
        model,
        lambda index: F.cross_entropy(model(x[index]), y[index]),
        x.shape[0],
        cfg,
        seed=seed,
        checkpoint=checkpoint,
        bar=bar,
        name="model",
    )


def late_layer(model: nn.Module) -> nn.Module:
    """The last ReLU of a :class:`~checkerscope.models.StridedClassifier` (its last stage)."""
    return [m for m in model.modules() if isinstance(m, nn.ReLU)][-1]


def activations(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The late layer's pre-ReLU maps (N, C, h, w) of ``model`` for images ``x``.

    Before the ReLU, as Lucid's ``*_pre_relu`` objectives: a channel that is off everywhere
    on the faint start image would have no gradient after it.
    """
    out: list[torch.Tensor] = []
    handle = late_layer(model).register_forward_hook(lambda m, i, o: out.append(i[0]))
    try:
        model(x)
    finally:
        handle.remove()
    return out[0]


def visualize(
    model: nn.Module,
    channels: list[int],
    x0: torch.Tensor,
    steps: int,
    lr: float,
    jitter: int,
    seed: int,
) -> torch.Tensor:
    """Maximize the mean activation of ``channels[i]`` in image ``i`` by gradient ascent.

    DeepDream's update (Mordvintsev et al. 2015): each step adds ``lr`` times the gradient
    divided by its mean absolute value (per image), so pixels keep their relative share of
    the gradient, checkerboard included. ``x0`` (len(channels), 3, H, W) is the start; with
    ``jitter > 0`` every step rolls the images by a fresh random offset in [0, jitter) per
    axis (drawn from ``seed``; Lucid's ``jitter``) before the network sees them. With
    ``jitter`` a multiple of the network's total stride, every phase of its grid is equally
    likely, so a pattern locked to the grid averages out. Returns the optimized images.
    The model's parameters are not changed.
    """
    model.eval().requires_grad_(False)
    x = x0.clone()
    index = torch.tensor(channels)
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        x.requires_grad_(True)
        inp = x
        if jitter > 0:
            dy, dx = torch.randint(jitter, (2,), generator=g).tolist()
            inp = torch.roll(x, shifts=(dy, dx), dims=(2, 3))
        act = activations(model, inp)
        objective = act[torch.arange(len(channels)), index].mean(dim=(1, 2)).sum()
        (grad,) = torch.autograd.grad(objective, x)
        scale = grad.abs().mean(dim=(1, 2, 3), keepdim=True).clamp_min(1e-12)
        x = (x + lr * grad / scale).detach()
    model.requires_grad_(True)
    return x


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of ``x`` classified as ``y`` (eval mode)."""
    return float((model.eval()(x).argmax(dim=1) == y).double().mean())


def one_seed(
    cfg: C.FeatureVisConfig, images: list[torch.Tensor], strong: bool, seed: int, ctx: Context
) -> dict[str, Any]:
    """The whole study for one seed: both classifiers trained, every method visualized."""
    from checkerscope.analysis.score import checkerboard_score
    from checkerscope.models import StridedClassifier

    x, y = photo_id_data(images, cfg.n_per_image, cfg.image_size, seed, strong)
    x_test, y_test = photo_id_data(images, cfg.n_test_per_image, cfg.image_size, seed + 1, strong)
    models: dict[str, nn.Module] = {}
    losses: dict[str, list[float]] = {}
    acc: dict[str, float] = {}
    for kind in ("strided_conv", "antialiased"):
        torch.manual_seed(seed)
        model = StridedClassifier(3, len(images), cfg.width, cfg.stages, downsample=kind)
        losses[kind] = train_classifier(
            model.to(ctx.device),
            x.to(ctx.device),
            y.to(ctx.device),
            cfg,
            seed=seed + 2,
            checkpoint=ctx.checkpoint_dir / f"{kind}_seed{seed}.pt",
        )
        models[kind] = model.cpu().eval()
        acc[kind] = accuracy(models[kind], x_test, y_test)

    start = 0.5 + cfg.init_std * torch.randn(
        cfg.channels,
        3,
        cfg.vis_size,
        cfg.vis_size,
        generator=torch.Generator().manual_seed(seed + 3),
    )
    runs = {
        "plain": ("strided_conv", 0),
        "jitter": ("strided_conv", cfg.jitter),
        "antialiased": ("antialiased", 0),
    }
    chosen: dict[str, list[int]] = {}
    vis: dict[str, torch.Tensor] = {}
    scores: dict[str, list[float]] = {}
    for method in METHODS:
        kind, jitter = runs[method]
        if kind not in chosen:
            with torch.no_grad():
                mean_act = activations(models[kind], x_test).mean(dim=(0, 2, 3))
            chosen[kind] = mean_act.argsort(descending=True)[: cfg.channels].tolist()
        vis[method] = visualize(
            models[kind], chosen[kind], start, cfg.vis_steps, cfg.vis_lr, jitter, seed + 4
        )
        inner = vis[method][..., cfg.margin : -cfg.margin, cfg.margin : -cfg.margin]
        scores[method] = checkerboard_score(inner, color="mean").tolist()
    return {
        "accuracy": acc,
        "final_loss": {k: sum(v[-20:]) / len(v[-20:]) for k, v in losses.items()},
        "channels": chosen,
        "scores": scores,
        "shown": {m: v[:SHOWN] for m, v in vis.items()},
    }


def run(ctx: Context) -> ExperimentResult:
    cfg: C.FeatureVisConfig = ctx.config
    images = [im for im in ctx.data.images() if min(im.shape[-2:]) >= cfg.image_size]
    if len(images) < 2:
        raise ValueError(
            f"feature_vis needs at least 2 images of at least {cfg.image_size} pixels a side "
            f"(one class per photograph), got {len(images)}"
        )
    strong = ctx.data.strong_colors
    seeds = ctx.seeds(cfg.seeds)
    per = ctx.map(lambda s: one_seed(cfg, images, strong, s, ctx), seeds, "classifiers")
    mean = {m: [sum(p["scores"][m]) / len(p["scores"][m]) for p in per] for m in METHODS}
    ctx.decide(
        CLAIM.id,
        per_seed=[
            min(p - j, p - a)
            for p, j, a in zip(mean["plain"], mean["jitter"], mean["antialiased"], strict=True)
        ],
        evidence={
            "channels": cfg.channels,
            "score_mean_db_per_seed": mean,
            "test_accuracy_per_seed": [p["accuracy"] for p in per],
            "chance_accuracy": 1 / len(images),
        },
    )
    numbers: dict[str, Any] = {
        "classes": len(images),
        "test_accuracy": [p["accuracy"] for p in per],
        "final_loss": [p["final_loss"] for p in per],
        "channels": [p["channels"] for p in per],
        "score_db": [p["scores"] for p in per],
        "score_mean_db": {m: sum(v) / len(v) for m, v in mean.items()},
    }
    first = per[0]
    figures = {
        "visualizations": visualizations(
            first["shown"], {m: s[:SHOWN] for m, s in first["scores"].items()}
        )
    }
    captions = {
        "visualizations": "Images that maximize one late-layer channel each (columns) of a small "
        "classifier trained in the run to tell the photographs apart (a stand-in for an "
        "ImageNet network), first seed: by plain gradient ascent, with jitter, and on the "
        "anti-aliased classifier; checkerboard score above each.",
    }
    return ExperimentResult(numbers, figures, captions)


EXPERIMENT = Experiment(
    id="feature_vis",
    title="Feature visualization: plain, jittered, and on an anti-aliased classifier",
    claims=(CLAIM,),
    configs=C.FEATURE_VIS,
    run=run,
    budget=C.BUDGETS["feature_vis"],
)
