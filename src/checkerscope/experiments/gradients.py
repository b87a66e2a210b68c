"""``gradients``: do strided convolutions put a checkerboard into trained networks' input gradients?

Odena et al. (2016), "Artifacts in gradients": the backward pass of a strided convolution is a
transposed convolution, so "some neurons will get many times the gradient of their neighbors,
basically arbitrarily. Equivalently, the network will care much more about some pixels in the
input than others". The networks here are trained, as the article's were:

* ``classifier``: the run's shared photo classifier (:mod:`~checkerscope.experiments.classifier`),
  3x3 stride-2 convolutions, against its anti-aliased twin trained alike (same initial weights,
  crops and batches; stride-1 convolution then blur-pool, Zhang 2019). The gradient is that of
  the logit of each crop's true class (a saliency map, Simonyan et al. 2014).
* ``discriminator``, recorded beside the claim and deciding nothing: the trained DCGAN
  discriminators (4x4 stride-2 convolutions) of ``strided_discriminator``'s GANs against the
  anti-aliased discriminators trained alike there (same generator weights, data and noise;
  :func:`~checkerscope.experiments.trained_gans.trained_gan`, shared with that experiment), at
  that experiment's own held-out crops; the gradient is that of the logit, what the generator
  learns from. Those GANs are fewer than the claim's seeds (three pairs at default: each costs
  two GAN trainings), so they are evidence, not a setting of the claim.

The classifiers are differentiated at the same held-out crops (``n_crops`` per photograph,
tiles the classifiers never trained on), BatchNorm in eval mode, so each crop's gradient is its
own.

The measure, declared before any trained network was measured: the checkerboard score (dB,
:func:`~checkerscope.analysis.score.checkerboard_score`) of the gradient magnitude ``|g|``
averaged over the colour channels, crop by crop, mean over the crops. The magnitude, because
the article's point is how much gradient each pixel gets, whatever its sign; the score, because
it measures energy on the period-2, 4 and 8 lattices against the spectrum around it and keeps
lines, edges and frames (zero padding, blur-pool's reflect padding) out of the lattice, the
weakness that once made the phase ratio stand in for it. Recorded beside it, deciding nothing:
the score of the signed gradient (``color="mean"``) and the phase ratio of the gradient energy
(:func:`~checkerscope.analysis.phases.phase_ratio`, max over min of the 2x2 phases).

The seed is an independently trained pair of networks (initial weights, crops, batch order)
with its own draw of held-out crops: the claim is about an architecture, so the variation that
counts is training's. One network differentiated at many inputs would give a tight interval
about that one network only.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from checkerscope.analysis.gradients import input_gradient
from checkerscope.analysis.phases import phase_ratio
from checkerscope.analysis.score import THRESHOLD, checkerboard_score
from checkerscope.experiments import classifier as clf
from checkerscope.experiments import config as C
from checkerscope.experiments.decision import Claim, Effect, MeanInterval, differences
from checkerscope.experiments.runner import Context, Experiment, ExperimentResult
from checkerscope.experiments.strided_discriminator import DISCRIMINATORS as STRIDED_D
from checkerscope.experiments.strided_discriminator import EXPERIMENT as STRIDED_D_EXPERIMENT
from checkerscope.experiments.trained_gans import gan_seeds, held_out_crops, trained_gan
from checkerscope.report.figures.gradients import gradient_maps, paired_per_seed

KINDS = tuple(clf.KINDS)
STRIDED_D_ID = STRIDED_D_EXPERIMENT.id
CLAIM = Claim(
    "gradient_artifacts",
    "Trained networks with strided convolutions hand their input a checkerboard gradient: the "
    "checkerboard score of the input-gradient magnitude of a photo classifier with 3x3 stride-2 "
    "convolutions, trained in the run, is higher than that of its twin with anti-aliased "
    "downsampling (conv + blur-pool) trained alike (same held-out crops; each seed trains its "
    "own pair). The GANs' trained DCGAN discriminators (4x4 stride 2) against anti-aliased ones "
    "are measured beside it, deciding nothing.",
    Effect("gradient-magnitude score, strided - anti-aliased", "dB"),
    MeanInterval(0.0),
)


def gradient_measures(
    model: nn.Module,
    x: torch.Tensor,
    labels: torch.Tensor | None = None,
    period: int = 2,
    margin: int = 2,
) -> dict[str, Any]:
    """The input gradient of ``model`` at ``x`` (B, C, H, W) and its measures.

    The gradient is that of the logit of class ``labels`` (B,) per image, or of the model's
    output summed per image when ``labels`` is None (a discriminator's logit). Returns
    ``"magnitude"`` (B,): the score (dB) of ``|g|`` averaged over channels; ``"signed"`` (B,):
    the score of ``g`` (channel spectra averaged); ``"ratio"``: the phase ratio of the energy
    at ``period`` (``margin`` border pixels dropped); ``"maps"`` (B, 1, H, W): ``|g|``.

    Example:
        >>> conv = nn.Conv2d(3, 1, 3, stride=2, padding=1)
        >>> m = gradient_measures(conv, torch.rand(2, 3, 32, 32))
        >>> m["magnitude"].shape, m["maps"].shape
        (torch.Size([2]), torch.Size([2, 1, 32, 32]))
    """

    def true_logit(logits: torch.Tensor) -> torch.Tensor:
        assert labels is not None
        return logits.gather(1, labels[:, None].to(logits.device)).squeeze(1)

    g = input_gradient(model, x, None if labels is None else true_logit).cpu()
    maps = g.abs().mean(dim=1, keepdim=True)
    return {
        "magnitude": checkerboard_score(maps),
        "signed": checkerboard_score(g, color="mean"),
        "ratio": phase_ratio(g, period, margin),
        "maps": maps,
    }


def summary(m: dict[str, Any], shown: int) -> dict[str, Any]:
    """The numbers of :func:`gradient_measures` kept per network and seed: mean scores over the
    crops, the phase ratio and the first ``shown`` magnitude maps."""
    return {
        "magnitude": float(m["magnitude"].mean()),
        "signed": float(m["signed"].mean()),
        "ratio": m["ratio"],
        "maps": m["maps"][:shown],
    }


def discriminator_seed(
    ctx: Context, cfg: C.GradientsConfig, gan_cfg: C.GanConfig, seed: int
) -> dict[str, Any]:
    """The strided and the anti-aliased discriminator that ``strided_discriminator`` trains
    from GAN seed ``seed`` (its config ``gan_cfg``), measured at that experiment's held-out
    crops: ``{"crops": ..., "strided": summary, "antialiased": summary}``."""
    (variant,), (init,) = gan_cfg.variants, gan_cfg.inits
    x = held_out_crops(ctx, gan_cfg, seed).to(ctx.device)
    out: dict[str, Any] = {"crops": (x[: cfg.shown].cpu() + 1) / 2}
    for kind, d in zip(KINDS, STRIDED_D, strict=True):
        D = trained_gan(ctx, variant, seed, init=init, discriminator=d, config=gan_cfg).D
        m = gradient_measures(D.eval().requires_grad_(False), x, None, cfg.period, cfg.margin)
        out[kind] = summary(m, cfg.shown)
    return out


def one_seed(ctx: Context, cfg: C.GradientsConfig, index: int, seed: int) -> dict[str, Any]:
    """Seed number ``index``: classifier pair ``index`` measured at held-out crops drawn from
    ``seed``: ``{"crops": ..., "strided": summary, "antialiased": summary, "about": ...}``."""
    ccfg: C.ClassifierConfig = ctx.shared_config("classifier")
    pair = {kind: clf.trained(ctx, kind, index) for kind in KINDS}
    images = clf.usable(ctx.data.images(), ccfg)
    x, y = clf.photo_crops(images, cfg.n_crops, ccfg.image_size, ccfg.tile, "held_out", seed)
    out: dict[str, Any] = {"crops": (x[: cfg.shown] + 1) / 2}
    for kind, t in pair.items():
        m = gradient_measures(t.model, x.to(ctx.device), y, cfg.period, cfg.margin)
        out[kind] = summary(m, cfg.shown)
    out["about"] = {kind: t.about for kind, t in pair.items()}
    return out


def run(ctx: Context) -> ExperimentResult:
    cfg: C.GradientsConfig = ctx.config
    clf.usable(ctx.data.images(), ctx.shared_config("classifier"))  # loaded once, checked first
    clf.train_all(ctx, cfg.seeds)
    seeds = list(enumerate(ctx.seeds(cfg.seeds)))
    per = ctx.map(lambda s: one_seed(ctx, cfg, *s), seeds, "gradients")
    gan_cfg = C.STRIDED_DISCRIMINATOR[ctx.scale]
    gan_runs = gan_seeds(ctx, gan_cfg.seeds, STRIDED_D_ID)
    per_gan = ctx.map(
        lambda s: discriminator_seed(ctx, cfg, gan_cfg, s), gan_runs, "discriminators"
    )
    runs = {"classifier": per, "discriminator": per_gan}
    networks = list(runs)

    def each(network: str, key: str) -> dict[str, list[float]]:
        return {kind: [p[kind][key] for p in runs[network]] for kind in KINDS}

    magnitude = {n: each(n, "magnitude") for n in networks}
    signed = {n: each(n, "signed") for n in networks}
    ratio = {n: each(n, "ratio") for n in networks}
    discriminator = differences(magnitude["discriminator"]["strided"],
                                magnitude["discriminator"]["antialiased"])  # fmt: skip
    classifiers = clf.summary([p["about"] for p in per])
    evidence: dict[str, Any] = {
        "seed_is": "an independently trained pair of networks (classifier_seeds) with its own "
        "draw of held-out crops (the experiment's seed)",
        "magnitude_score_db_per_seed": magnitude,
        "signed_score_db_per_seed": signed,
        "phase_ratio_per_seed": ratio,
        "classifier": classifiers,
        "crops_per_photograph": cfg.n_crops,
    }
    evidence["discriminator"] = {
        "deciding": False,
        "gans": f"strided_discriminator's GANs at this scale ({len(gan_runs)} seeds, its config)",
        "strided_minus_antialiased_db_per_gan_seed": discriminator,
        "all_positive": all(d > 0 for d in discriminator),
    }
    effect = differences(magnitude["classifier"]["strided"], magnitude["classifier"]["antialiased"])
    ctx.decide(CLAIM.id, per_seed=effect, evidence=evidence)
    maps = {n: {f"{n} {k}": runs[n][0][k]["maps"] for k in KINDS} for n in networks}
    scores = {f"{n} {k}": magnitude[n][k][0] for n in networks for k in KINDS}
    captions = {
        "maps": "Input-gradient magnitude of the trained classifiers at held-out crops (first "
        "seed; brighter: more gradient, each map stretched to its own maximum), the mean score "
        "of this seed's maps above each column; the gradient is that of the true class's "
        "logit. Look for a fine grid in the strided column that the anti-aliased one lacks.",
        "discriminator_maps": "The same for the trained discriminators of "
        "strided_discriminator's first GAN (DCGAN's 4x4 stride 2 against anti-aliased "
        "downsampling, generators trained alike), the gradient of the logit: what the "
        "generator learns from. Recorded beside the claim, deciding nothing.",
        "per_seed": "Mean gradient-magnitude score over the held-out crops, one line per seed "
        "(an independently trained pair of networks; for the discriminators, one pair of GANs "
        "of strided_discriminator, deciding nothing), strided on the left and anti-aliased on "
        "the right: lines falling to the right are seeds where anti-aliasing lowered the score "
        f"(dotted: the score's {THRESHOLD:g} dB flag threshold). "
        "Classifier held-out accuracy per seed (strided): "
        + ", ".join(f"{a:.0%}" for a in classifiers["held_out_accuracy_per_seed"]["strided"])
        + f"; chance {classifiers['chance_accuracy']:.0%}.",
    }
    figures = {
        "maps": gradient_maps(per[0]["crops"], maps["classifier"], scores),
        "discriminator_maps": gradient_maps(per_gan[0]["crops"], maps["discriminator"], scores),
        "per_seed": paired_per_seed(
            {n: magnitude[n] for n in networks}, "gradient-magnitude score (dB)", THRESHOLD
        ),
    }
    numbers: dict[str, Any] = {
        "magnitude_score_db": magnitude,
        "signed_score_db": signed,
        "phase_ratio": ratio,
        "classifier": classifiers,
        "classifier_config": C.as_dict(ctx.shared_config("classifier")),
    }
    return ExperimentResult(numbers, figures, captions)


EXPERIMENT = Experiment(
    id="gradients",
    title="Checkerboards in trained networks' input gradients: strided vs anti-aliased",
    claims=(CLAIM,),
    configs=C.GRADIENTS,
    run=run,
    budget=C.BUDGETS["gradients"],
)
