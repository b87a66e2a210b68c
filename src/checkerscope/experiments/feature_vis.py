"""``feature_vis``: feature visualization of the trained classifier, plain, jittered, anti-aliased.

Odena et al. (2016): the checkerboard in the gradients of strided convolutions is "a major
challenge" of feature visualization, and "the 'jitter' of optimizing at different offsets
cancels out some of the checkerboard artifacts" (Mordvintsev et al. 2015, DeepDream; Olah et
al. 2017, "Feature Visualization"); "one wonders if better neural network architectures could
make these efforts unnecessary".

The networks are the run's shared classifiers (:mod:`~checkerscope.experiments.classifier`:
trained to tell which photograph a crop comes from, 3x3 stride-2 convolutions, and the
anti-aliased twin trained alike). For each seed (a classifier pair of its own) and for the
``channels`` channels of the last stage most active on held-out crops, the channel's mean
pre-ReLU activation is maximized by gradient ascent on the pixels (DeepDream's normalized
steps), from the same faint noise around mid-grey:

* ``plain``: the strided classifier, the image fed as it is;
* ``jitter``: the strided classifier, the image rolled by a random offset of 0 to
  ``jitter - 1`` pixels on each axis at every step (Lucid's ``jitter``; 8 covers every phase
  of the classifier's stride-8 grid evenly);
* ``antialiased``: the anti-aliased classifier, no jitter.

Each visualization gets the checkerboard score of its channel-averaged power spectrum
(``color="mean"``), ``margin`` border pixels left out. Not luma: a visualization is no
photograph, so there is no JPEG chroma subsampling to ignore, and the gradient of each colour
channel carries its own checkerboard, which a pattern in the colour channels alone (one the
luma weights cancel) would hide from luma. The luma score is recorded beside it. The claim
compares, seed by seed, the mean score over channels of plain visualizations with that of
jittered ones and with that of the anti-aliased classifier's (two comparisons, each decided
by the rule).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from checkerscope.analysis.score import THRESHOLD, checkerboard_score
from checkerscope.experiments import classifier as clf
from checkerscope.experiments import config as C
from checkerscope.experiments.decision import Claim, Effect, MeanInterval, differences
from checkerscope.experiments.runner import Context, Experiment, ExperimentResult
from checkerscope.report.figures.gradients import paired_per_seed, visualizations

CLAIM = Claim(
    "feature_vis_jitter",
    lambda cfg: (
        "Feature visualizations by gradient ascent on a classifier with 3x3 stride-2 "
        "convolutions, trained in the run to tell the photographs apart, carry a higher "
        "checkerboard score than with jitter (random shifts by 0 to "
        f"{cfg.jitter - 1} px per axis and step) and than those of its twin with anti-aliased "
        "downsampling trained alike (mean score over the visualized channels; each seed "
        "trains its own classifiers)."
    ),
    Effect("visualization score, plain - jittered or anti-aliased", "dB"),
    MeanInterval(0.0),
)
METHODS = ("plain", "jitter", "antialiased")
SHOWN = 8
"""Visualizations per method in the figure."""


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
    likely, so a pattern locked to the grid averages out. Returns the optimized images; the
    model (put in eval mode) is not changed.
    """
    model.eval()
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
    return x


def one_seed(ctx: Context, cfg: C.FeatureVisConfig, index: int, seed: int) -> dict[str, Any]:
    """Seed number ``index``: classifier pair ``index``, its channels chosen on held-out crops
    drawn from ``seed``, visualized by every method from one start drawn from ``seed``."""
    ccfg: C.ClassifierConfig = ctx.shared_config("classifier")
    pair = {kind: clf.trained(ctx, kind, index) for kind in clf.KINDS}
    images = clf.usable(ctx.data.images(), ccfg)
    x_test, _ = clf.photo_crops(
        images, ccfg.n_test_per_image, ccfg.image_size, ccfg.tile, "held_out", seed
    )
    g = torch.Generator().manual_seed(seed + 1)
    start = cfg.init_std * torch.randn(cfg.channels, 3, cfg.vis_size, cfg.vis_size, generator=g)
    runs = {
        "plain": ("strided", 0),
        "jitter": ("strided", cfg.jitter),
        "antialiased": ("antialiased", 0),
    }
    chosen: dict[str, list[int]] = {}
    shown: dict[str, torch.Tensor] = {}
    scores: dict[str, list[float]] = {}
    luma: dict[str, list[float]] = {}
    for method, (kind, jitter) in runs.items():
        model = pair[kind].model
        if kind not in chosen:
            with torch.no_grad():
                mean_act = activations(model, x_test.to(ctx.device)).mean(dim=(0, 2, 3))
            chosen[kind] = mean_act.argsort(descending=True)[: cfg.channels].tolist()
        vis = visualize(
            model, chosen[kind], start.to(ctx.device), cfg.vis_steps, cfg.vis_lr, jitter, seed + 2
        ).cpu()
        inner = vis[..., cfg.margin : -cfg.margin, cfg.margin : -cfg.margin]
        scores[method] = checkerboard_score(inner, color="mean").tolist()
        luma[method] = checkerboard_score(inner, color="luma").tolist()
        shown[method] = vis[:SHOWN]
    return {
        "channels": chosen,
        "scores": scores,
        "luma": luma,
        "shown": shown,
        "classifiers": {kind: t.about for kind, t in pair.items()},
    }


def run(ctx: Context) -> ExperimentResult:
    cfg: C.FeatureVisConfig = ctx.config
    clf.usable(ctx.data.images(), ctx.shared_config("classifier"))  # loaded once, checked first
    clf.train_all(ctx, cfg.seeds)
    seeds = list(enumerate(ctx.seeds(cfg.seeds)))
    per = ctx.map(lambda s: one_seed(ctx, cfg, *s), seeds, "visualize")

    def means(key: str) -> dict[str, list[float]]:
        return {m: [sum(p[key][m]) / len(p[key][m]) for p in per] for m in METHODS}

    mean = means("scores")
    classifiers = clf.summary([p["classifiers"] for p in per])
    ctx.decide(
        CLAIM.id,
        per_seed={
            "plain - jitter": differences(mean["plain"], mean["jitter"]),
            "plain - antialiased": differences(mean["plain"], mean["antialiased"]),
        },
        evidence={
            "seed_is": "an independently trained classifier pair (classifier_seeds) with its "
            "own start image and held-out crops (the experiment's seed)",
            "score_mean_db_per_seed": mean,
            "channels": cfg.channels,
            "score_color": "mean",
            "luma_score_mean_db_per_seed": means("luma"),
            "classifier": classifiers,
        },
    )
    numbers: dict[str, Any] = {
        "channels": [p["channels"] for p in per],
        "score_db": [p["scores"] for p in per],
        "score_mean_db": {m: sum(v) / len(v) for m, v in mean.items()},
        "classifier": classifiers,
        "classifier_config": C.as_dict(ctx.shared_config("classifier")),
    }
    first = per[0]
    accuracy = classifiers["held_out_accuracy_per_seed"]
    figures = {
        "visualizations": visualizations(
            first["shown"], {m: s[:SHOWN] for m, s in first["scores"].items()}
        ),
        "per_seed": paired_per_seed(
            {"visualizations": mean}, "mean checkerboard score (dB)", THRESHOLD
        ),
    }
    captions = {
        "visualizations": "Images that maximize one late-layer channel each (columns) of a small "
        "classifier trained in the run to tell the photographs apart (a stand-in for an "
        f"ImageNet network; held-out accuracy {accuracy['strided'][0]:.0%}, anti-aliased twin "
        f"{accuracy['antialiased'][0]:.0%}, chance {classifiers['chance_accuracy']:.0%}; first "
        "seed): by plain gradient ascent, with jitter, and on the anti-aliased twin; "
        "checkerboard score above each. Look for a fine grid in the plain row.",
        "per_seed": "Mean checkerboard score of the visualizations, one line per seed (an "
        "independently trained classifier pair): plain, jittered and on the anti-aliased "
        "twin. Lines falling from plain are seeds where jitter or anti-aliasing lowered the "
        f"score; jittered ones still above the dotted {THRESHOLD:g} dB flag threshold are "
        "checkerboards that jitter only partly cancelled.",
    }
    return ExperimentResult(numbers, figures, captions)


EXPERIMENT = Experiment(
    id="feature_vis",
    title="Feature visualization of a trained classifier: plain, jittered, anti-aliased",
    claims=(CLAIM,),
    configs=C.FEATURE_VIS,
    run=run,
    budget=C.BUDGETS["feature_vis"],
)
