"""How checkered and how good a trained GAN is: period scores over training and KID to the data.

Two GANs are only compared for checkerboards at comparable quality. Quality is KID (Binkowski
et al. 2018; :mod:`checkerscope.analysis.kid`) between a GAN's samples and held-out crops of
the data, in the feature space of :func:`quality_features`: the features of the classifier
trained on the photographs in this run (``experiments/classifier.py``), so that the distance
means something about these images. Every claim comparing GANs declares two guards over seeds:

* :data:`KID_GAP`: the two GANs' KIDs are within a factor :data:`KID_FACTOR` of each other, or
  equal within :data:`Z_SCORE` standard errors (:func:`kid_gap` below 1);
* :data:`LEARNED`: each GAN's KID after training is at most :data:`LEARNED_AT_MOST` of its KID
  at initialization (both to the same held-out crops): training brought both towards the data.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from checkerscope.experiments import config as C
from checkerscope.experiments.context import Context
from checkerscope.experiments.decision import Guard
from checkerscope.experiments.trained_gans import (
    build_gan,
    eval_noise,
    generate,
    period_evaluator,
    trained_gan,
    training_crops,
)

KID_FACTOR = 2.0
"""Two KIDs are "comparable" when the larger is less than this factor times the smaller..."""
Z_SCORE = 2.0
"""...or when they differ by less than this many standard errors."""
LEARNED_AT_MOST = 0.5
"""Largest KID after training, as a fraction of the KID at initialization, of a GAN that
learned (the larger of the two GANs compared)."""
KID_GAP = "KID gap: the smaller of the KID ratio over 2 and the KID difference over 2 SE"
LEARNED = "KID after training over KID at initialization, the larger of the two GANs"
GUARDS = (Guard(KID_GAP, at_most=1.0), Guard(LEARNED, at_most=LEARNED_AT_MOST))
CLASSIFIER = "the features of the classifier trained on the photographs in this run"
STAND_IN = (
    "a random-weight multi-scale CNN (a LOCAL stand-in for the trained classifier, used only "
    "while experiments/classifier.py is missing)"
)

Features = Callable[[torch.Tensor], torch.Tensor]


def quality_features(ctx: Context) -> tuple[Features, str]:
    """The quality guard's feature space and its description: images (N, 3, H, W) in [-1, 1]
    -> features (N, D), from ``classifier_features(ctx)`` (the shared trained classifier).

    The one place that chooses it: every GAN claim measures KID through this function.
    """
    try:
        from checkerscope.experiments.classifier import classifier_features
    except ModuleNotFoundError as missing:
        # LOCAL FALLBACK, for testing until experiments/classifier.py lands on main; once it
        # has, this except-branch goes (the import above is the switch). The description says
        # which space was used in every caption and claim's evidence.
        if missing.name != "checkerscope.experiments.classifier":
            raise
        from checkerscope.analysis.kid import kid_features

        return kid_features(in_channels=3, seed=0).to(ctx.device), STAND_IN
    return classifier_features(ctx), CLASSIFIER


def kid_gap(kid_a: float, sem_a: float, kid_b: float, sem_b: float) -> float:
    """Below 1 when two KIDs are comparable: ratio < :data:`KID_FACTOR` or difference <
    :data:`Z_SCORE` standard errors (KIDs near 0 can be negative: then the ratio is infinite).

    Example:
        >>> kid_gap(0.010, 0.001, 0.015, 0.001), kid_gap(-0.001, 0.002, 0.002, 0.002) < 1
        (0.75, True)
    """
    low, high = sorted((kid_a, kid_b))
    ratio = high / low if low > 0 else math.inf
    se = math.hypot(sem_a, sem_b)
    z = (high - low) / se if se > 0 else math.inf
    return min(ratio / KID_FACTOR, z / Z_SCORE)


def learned(a: dict[str, Any], b: dict[str, Any]) -> float:
    """The :data:`LEARNED` guard of two GANs measured by :func:`measure_gan`: the larger of
    their KIDs after training over at initialization.

    Example:
        >>> learned({"kid": 0.1, "kid_init": 1.0}, {"kid": 0.3, "kid_init": 2.0})
        0.15
    """
    return max(x["kid"] / x["kid_init"] for x in (a, b))


def kid_of(
    features: Features, x: torch.Tensor, y: torch.Tensor, cfg: C.GanConfig, device: torch.device
) -> tuple[float, float]:
    """(KID, its standard error over subsets) between image sets ``x`` and ``y`` (N, 3, H, W)
    in ``features``' space (features computed on ``device``)."""
    from checkerscope.analysis.kid import extract_features, kid_from_features

    fx, fy = (extract_features(features, images.to(device)).cpu() for images in (x, y))
    kid = kid_from_features(fx, fy, cfg.kid_subsets, cfg.kid_subset_size)
    return kid.mean, kid.stderr


def data_kid(
    ctx: Context, cfg: C.GanConfig, features: Features, seed: int, reference: torch.Tensor
) -> float:
    """The data's own KID for the GANs of ``seed``: their first ``n_eval`` training crops
    against the ``reference`` (held-out) crops; about 0, the floor a perfect generator reaches."""
    first = training_crops(ctx, cfg, seed, cfg.n_eval)
    return kid_of(features, first, reference, cfg, ctx.device)[0]


def measure_gan(
    ctx: Context,
    cfg: C.GanConfig,
    variant: str,
    seed: int,
    *,
    init: str,
    discriminator: str,
    features: Features,
    reference: torch.Tensor,
    keep: int = 0,
) -> dict[str, Any]:
    """Train (or load) one GAN and measure it against the ``reference`` (held-out) crops.

    Returns ``scores`` (``step``, ``score`` and ``score_p2``... over training, step 0 first),
    ``losses`` (``step``, ``loss_d``, ``loss_g``, the means between evaluations), the final
    ``score`` and ``period_scores``, ``kid`` and ``kid_sem`` of its samples to the reference,
    ``kid_init`` (the same generator before training) and its first ``keep`` samples. Runs
    inside ``ctx.map`` tasks.
    """
    gan = trained_gan(ctx, variant, seed, init=init, discriminator=discriminator, config=cfg)
    z = eval_noise(cfg, seed)
    G0, _ = build_gan(cfg, variant, init, discriminator, seed)
    at_init = period_evaluator(cfg.periods, z)(G0)
    scores = {"step": [0, *gan.history["step"]]}
    scores |= {k: [at_init[k], *gan.history[k]] for k in at_init}
    samples = generate(gan.G, z)
    kid, kid_sem = kid_of(features, samples, reference, cfg, ctx.device)
    return {
        "seed": seed,
        "scores": scores,
        "losses": {k: gan.history[k] for k in ("step", "loss_d", "loss_g")},
        "score": scores["score"][-1],
        "period_scores": {str(p): scores[f"score_p{p}"][-1] for p in cfg.periods},
        "kid": kid,
        "kid_sem": kid_sem,
        "kid_init": kid_of(features, generate(G0, z), reference, cfg, ctx.device)[0],
        "samples": samples[:keep],
    }


Arm = tuple[str, str, str]
"""One GAN of a comparison, given by (generator upsampler, initialization, discriminator)."""


def measure_arms(
    ctx: Context,
    cfg: C.GanConfig,
    arms: list[Arm],
    references: dict[int, torch.Tensor],
    features: Features,
    keep: int = 36,
) -> dict[Arm, list[dict[str, Any]]]:
    """:func:`measure_gan` for every arm and every seed of ``references`` (seed -> its held-out
    crops), one GAN per task of ``ctx.map``: arm -> one result per seed (the first seed's keep
    ``keep`` samples)."""
    seeds = list(references)
    tasks = [(arm, seed) for seed in seeds for arm in arms]

    def one(task: tuple[Arm, int]) -> dict[str, Any]:
        (variant, init, discriminator), seed = task
        return measure_gan(
            ctx,
            cfg,
            variant,
            seed,
            init=init,
            discriminator=discriminator,
            features=features,
            reference=references[seed],
            keep=keep if seed == seeds[0] else 0,
        )

    done = dict(zip(tasks, ctx.map(one, tasks, "train GANs"), strict=True))
    return {arm: [done[(arm, seed)] for seed in seeds] for arm in arms}


def compare_arms(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> dict[str, list[float]]:
    """Seed by seed, arm ``a`` against arm ``b``: the final score difference (dB) and the
    values of both guards."""
    return {
        "effect": [x["score"] - y["score"] for x, y in zip(a, b, strict=True)],
        KID_GAP: [
            kid_gap(x["kid"], x["kid_sem"], y["kid"], y["kid_sem"])
            for x, y in zip(a, b, strict=True)
        ],
        LEARNED: [learned(x, y) for x, y in zip(a, b, strict=True)],
    }


def history(run: dict[str, Any]) -> dict[str, Any]:
    """What ``results.json`` keeps of one GAN measured by :func:`measure_gan` (no samples)."""
    return {k: run[k] for k in ("seed", "scores", "losses", "kid", "kid_sem", "kid_init")}


def per_seed_numbers(runs: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """The per-seed numbers of one arm worth recording as evidence."""
    keys = ("score", "period_scores", "kid", "kid_sem", "kid_init")
    return {k: [r[k] for r in runs] for k in keys}


def standard_error(values: list[float]) -> float:
    """The standard error of the mean over seeds: sd (n - 1) / sqrt(n).

    Example:
        >>> round(standard_error([1.0, 2.0, 3.0]), 3)
        0.577
    """
    n = len(values)
    mean = sum(values) / n
    return math.sqrt(sum((x - mean) ** 2 for x in values) / (n - 1) / n) if n > 1 else math.nan
