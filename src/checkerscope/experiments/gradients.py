"""``gradients``: do strided convolutions put a checkerboard into a discriminator's input gradient?

Odena et al. (2016), "Artifacts in gradients": the backward pass of a strided convolution is a
transposed convolution, so "some neurons will get many times the gradient of their neighbors,
basically arbitrarily. Equivalently, the network will care much more about some pixels in the
input than others". Here DCGAN discriminators (:class:`checkerscope.models.StridedDiscriminator`)
with random weights, one per seed, take the gradient of the sum of their logits with respect to
real crops (strong colours), for four ways of halving the resolution:

* ``strided_k3``: 3x3 stride-2 convolutions (uneven overlap on the backward pass: the taps
  split 2 + 1 between the phases, "a factor of four" in 2-D);
* ``strided_k4``: 4x4 stride-2, DCGAN's own (even overlap: only unequal weights unbalance it);
* ``antialiased``: stride-1 convolution then binomial blur-pool (Zhang 2019);
* ``avgpool``: the clean reference, a stride-1 convolution then 2x2 average pooling, whose
  backward pass spreads every gradient evenly over a 2x2 block.

BatchNorm runs in eval mode (the identity at initialization), so each image's gradient is its
own. The article's measure is how unequally the pixels get gradient: with ``E`` the gradient
energy ``sum_c g_c**2`` averaged over the crops, the *phase ratio* is the largest over the
smallest mean of ``E`` over the pixels of each phase (i mod 2, j mod 2) (borders dropped),
1 for an even spread. The checkerboard score of the gradient magnitude maps and of the signed
gradients (:func:`checkerscope.analysis.score.gradient_checkerboard`'s number) are recorded
beside it. The signed gradient of a random network has random signs, so its checkerboard is in
its magnitude, not in a periodic signal; and the score of the magnitude also rises with the
straight edges that blur-pool's reflect padding leaves in the gradients of the small maps
(see ``score_magnitude_db``), which is why the verdict rests on the phase ratio.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from checkerscope.analysis.gradients import input_gradient
from checkerscope.analysis.phases import phase_ratio
from checkerscope.analysis.score import checkerboard_score
from checkerscope.experiments import config as C
from checkerscope.experiments.decision import Claim, Effect, MeanInterval, differences
from checkerscope.experiments.runner import Context, Experiment, ExperimentResult
from checkerscope.report.figures.gradients import gradient_maps, phase_ratios

STRIDED = ("strided_k3", "strided_k4")
REFERENCES = ("antialiased", "avgpool")
CLAIM = Claim(
    "gradient_artifacts",
    "The input gradients of random-weight DCGAN discriminators with strided convolutions "
    "(k3 s2 and k4 s2) spread unevenly over the pixel phases: the phase ratio of their gradient "
    "energy (max/min over the 2x2 phases, 1 = even) is higher than with anti-aliased "
    "downsampling (conv + blur-pool) and higher than the clean reference (conv + 2x2 average "
    "pooling), for the discriminators of the same seed, in all four comparisons.",
    Effect("phase-ratio margin of strided over anti-aliased and avg-pool (smallest of 4)", ""),
    MeanInterval(0.0),
)


def build_discriminator(variant: str, cfg: C.GradientsConfig) -> nn.Module:
    """The random-weight DCGAN discriminator of ``variant`` (see the module docstring)."""
    from checkerscope.models import StridedDiscriminator
    from checkerscope.nn import downsampler

    if variant in ("strided_k3", "antialiased"):
        kind = "strided_conv" if variant == "strided_k3" else "antialiased"
        return StridedDiscriminator(3, cfg.ndf, cfg.image_size, downsample=kind)
    if variant not in ("strided_k4", "avgpool"):
        raise ValueError(
            "variant must be one of 'strided_k3', 'strided_k4', 'antialiased', 'avgpool', "
            f"got {variant!r}"
        )
    D = StridedDiscriminator(3, cfg.ndf, cfg.image_size, downsample="strided_conv")
    # The model builds k3 strided convolutions; swap each for the same-shaped k4 one or for
    # conv + average pooling, leaving the rest of DCGAN's discriminator as it is.
    for i, m in enumerate(D.main):
        if isinstance(m, nn.Conv2d) and m.stride == (2, 2):
            c_in, c_out = m.in_channels, m.out_channels
            D.main[i] = (
                downsampler("strided_conv", c_in, c_out, kernel_size=4)
                if variant == "strided_k4"
                else nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.AvgPool2d(2))
            )
    return D


def one_seed(cfg: C.GradientsConfig, x: torch.Tensor, seed: int, device: Any) -> dict[str, Any]:
    """Every variant's discriminator drawn from ``seed``: its phase ratio, the scores of its
    gradient magnitude and signed gradient, and its first ``cfg.shown`` magnitude maps."""
    out = {}
    for variant in cfg.variants:
        torch.manual_seed(seed)
        D = build_discriminator(variant, cfg).to(device).eval()
        g = input_gradient(D, x.to(device)).cpu()
        scored = g[: cfg.n_scored]
        mag = scored.abs().mean(dim=1, keepdim=True)
        out[variant] = {
            "ratio": phase_ratio(g, cfg.period, cfg.margin),
            "magnitude": float(checkerboard_score(mag).mean()),
            "signed": float(checkerboard_score(scored, color="mean").mean()),
            "maps": mag[: cfg.shown],
        }
    return out


def run(ctx: Context) -> ExperimentResult:
    cfg: C.GradientsConfig = ctx.config
    x = ctx.data.crops(cfg.n_crops, cfg.image_size, seed=ctx.seed) * 2 - 1
    seeds = ctx.seeds(cfg.seeds)  # one discriminator per seed and variant
    per = ctx.map(lambda s: one_seed(cfg, x, s, ctx.device), seeds, "gradients")

    def each(variant: str, key: str) -> list[float]:
        return [p[variant][key] for p in per]

    ratio = {v: each(v, "ratio") for v in cfg.variants}
    magnitude = {v: each(v, "magnitude") for v in cfg.variants}
    signed = {v: each(v, "signed") for v in cfg.variants}
    pairs = {f"{a}_vs_{b}": differences(ratio[a], ratio[b]) for a in STRIDED for b in REFERENCES}
    ctx.decide(
        CLAIM.id,
        per_seed=[min(d) for d in zip(*pairs.values(), strict=True)],
        evidence={
            "phase_ratio_mean": {v: _mean(r) for v, r in ratio.items()},
            "phase_ratio_differences_per_seed": pairs,
            "score_magnitude_db": {v: _mean(s) for v, s in magnitude.items()},
            "score_signed_db": {v: _mean(s) for v, s in signed.items()},
        },
    )
    numbers: dict[str, Any] = {
        "phase_ratio": ratio,
        "phase_ratio_mean": {v: _mean(r) for v, r in ratio.items()},
        "score_magnitude_db": {v: _mean(s) for v, s in magnitude.items()},
        "score_signed_db": {v: _mean(s) for v, s in signed.items()},
        "data_score_db": float(checkerboard_score(x).mean()),
    }
    captions = {
        "maps": "Gradient magnitude |d(sum of logits)/d(image)| of one random-weight "
        "discriminator per downsampler (untrained: a stand-in for a trained discriminator), "
        "for the same crops (brighter: more gradient); the strided ones show a grid.",
        "ratios": "Phase ratio of the gradient energy, one dot per random discriminator (seed), "
        "bar at the mean (1: every pixel phase gets the same gradient): strided convolutions "
        "favour some phases, anti-aliasing and average pooling do not.",
    }
    figures = {
        "maps": gradient_maps(
            (x[: cfg.shown] + 1) / 2,
            {v: per[0][v]["maps"] for v in cfg.variants},
            {v: magnitude[v][0] for v in cfg.variants},
        ),
        "ratios": phase_ratios(ratio),
    }
    return ExperimentResult(numbers, figures, captions)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


EXPERIMENT = Experiment(
    id="gradients",
    title="Checkerboards in a discriminator's input gradients: strided vs anti-aliased",
    claims=(CLAIM,),
    configs=C.GRADIENTS,
    run=run,
    budget=C.BUDGETS["gradients"],
)
