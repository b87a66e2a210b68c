"""``strided_discriminator``: can a strided discriminator put checkerboards into its generator?

Odena et al. (2016): "When the generator is neither biased for or against checkerboard
patterns, strided convolutions in the discriminator can cause them", through the checkerboard
that a strided convolution's gradient carries (its backward pass is a deconvolution).

The generator, chosen before any run: DCGAN's, upsampling with sub-pixel convolution
initialised by ICNR (Aitken et al. 2017). At initialization it computes exactly a nearest
resize-convolution (no checkerboard of its own: checked in ``init_artifacts``), yet each of the
four output phases has its own weights, which training may move apart: neither biased for
checkerboards (deconvolution is) nor against them (resize-convolution ties the phases). For
every seed it is trained twice from the same weights, data, batch order and noise: against
DCGAN's discriminator (4x4 stride-2 convolutions) and against the same discriminator with
anti-aliased downsampling (3x3 convolution at stride 1, then blur-pool; Zhang 2019), whose
gradient has no stride pattern. The effect is the difference of the generators' final
checkerboard scores, at comparable quality (the guards of
:mod:`~checkerscope.experiments.gan_quality`). DCGAN's initialization only; ``gan_training``
tries PyTorch's default too.
"""

from __future__ import annotations

from checkerscope.experiments import config as C
from checkerscope.experiments.context import Context, Experiment, ExperimentResult
from checkerscope.experiments.decision import Claim, Effect, MeanInterval
from checkerscope.experiments.gan_quality import (
    GUARDS,
    KID_FACTOR,
    KID_GAP,
    LEARNED,
    LEARNED_AT_MOST,
    Arm,
    compare_arms,
    data_kid,
    history,
    measure_arms,
    per_seed_numbers,
    quality_features,
    standard_error,
)
from checkerscope.experiments.trained_gans import held_out_crops
from checkerscope.report.figures.training import before_after, period_curves, sample_grids

DISCRIMINATORS = ("strided_k4", "antialiased")

CLAIM = Claim(
    "strided_discriminator_artifacts",
    lambda cfg: (
        "Strided convolutions in the discriminator put checkerboards into a generator that is "
        "neither biased for nor against them: a DCGAN generator with ICNR sub-pixel "
        f"upsampling (artifact-free at initialization), trained {cfg.steps} steps against "
        "DCGAN's discriminator (k4 s2 strided convolutions), ends with a higher checkerboard "
        "score than the same generator trained against the same discriminator with "
        "anti-aliased downsampling (3x3 convolution, then blur-pool), seed by seed, at "
        f"comparable quality (KIDs within a factor {KID_FACTOR:g} or 2 standard errors, each "
        f"KID after training at most {LEARNED_AT_MOST:g} of its KID at initialization)."
    ),
    Effect("final score, generator against strided D - against anti-aliased D", "dB"),
    MeanInterval(0.0),
    guards=GUARDS,
    min_seeds={"default": 3},
    min_seeds_reason="every seed trains two GANs, one against a discriminator at full "
    "resolution (twice the cost); 6 GANs fill the default budget",
)


def run(ctx: Context) -> ExperimentResult:
    cfg: C.GanConfig = ctx.config
    if tuple(cfg.discriminators) != DISCRIMINATORS:
        raise ValueError(f"discriminators must be {DISCRIMINATORS}, got {cfg.discriminators}")
    if len(cfg.variants) != 1 or len(cfg.inits) != 1:
        raise ValueError(
            f"variants and inits must name one each, got {cfg.variants} and {cfg.inits}"
        )
    (variant,), (init,) = cfg.variants, cfg.inits
    features, features_name = quality_features(ctx)
    arms: list[Arm] = [(variant, init, d) for d in DISCRIMINATORS]
    seeds = ctx.seeds(cfg.seeds)
    references = {seed: held_out_crops(ctx, cfg, seed) for seed in seeds}
    runs = measure_arms(ctx, cfg, arms, references, features)
    data_kids = [data_kid(ctx, cfg, features, s, references[s]) for s in seeds]
    by_d = {d: runs[arm] for d, arm in zip(DISCRIMINATORS, arms, strict=True)}
    strided, antialiased = by_d.values()
    compared = compare_arms(strided, antialiased)
    ctx.decide(
        CLAIM.id,
        per_seed=compared["effect"],
        guards={g: compared[g] for g in (KID_GAP, LEARNED)},
        evidence={
            "per_discriminator": {d: per_seed_numbers(r) for d, r in by_d.items()},
            "effect_standard_error_over_seeds_db": standard_error(compared["effect"]),
            "score_at_initialization_db": [r["scores"]["score"][0] for r in strided],
            "data_kid_per_seed": data_kids,
            "quality_features": features_name,
            "generator": f"DCGAN generator, upsample={variant!r}, init={init!r}",
            "steps": cfg.steps,
        },
    )

    steps = strided[0]["scores"]["step"]
    figures = {
        "curves": period_curves(
            steps,
            {
                f"generator {variant}": {
                    str(p): {d: [r["scores"][f"score_p{p}"] for r in x] for d, x in by_d.items()}
                    for p in cfg.periods
                }
            },
        ),
        "quality": before_after(
            {d: ([r["kid_init"] for r in x], [r["kid"] for r in x]) for d, x in by_d.items()},
            "KID to held-out crops",
            data_kids,
            "data's own KID",
            log=True,
        ),
        "samples": sample_grids(
            {
                **{f"against {d}": x[0]["samples"] for d, x in by_d.items()},
                "data": references[seeds[0]][:36],
            }
        ),
    }
    captions = {
        "curves": "Checkerboard score of each period of the ICNR sub-pixel generator's samples "
        "over training, against DCGAN's strided discriminator (red) and against the "
        "anti-aliased one (blue); thin lines one seed each, thick their mean, band its "
        "standard error over seeds. Both start artifact-free (step 0).",
        "quality": f"KID of each generator's samples to held-out crops in {features_name}, "
        "before (hollow) and after (filled) training, one pair per seed; dashed: the data's "
        "own KID.",
        "samples": "Final samples of the first seed's generator trained against each "
        "discriminator (the same noise), beside held-out crops of the data.",
    }
    numbers = {
        "generator": variant,
        "init": init,
        "quality_features": features_name,
        "data_kid_per_seed": data_kids,
        "runs": {d: [history(r) for r in x] for d, x in by_d.items()},
    }
    return ExperimentResult(numbers, figures, captions)


EXPERIMENT = Experiment(
    id="strided_discriminator",
    title="Strided discriminators and the generator's checkerboards",
    claims=(CLAIM,),
    configs=C.STRIDED_DISCRIMINATOR,
    run=run,
    budget=C.BUDGETS["strided_discriminator"],
)
