"""``architectures``: how common checkerboards are among well-known generators, before training.

Odena et al. (2016): "a large fraction of recent models exhibit this behavior", and "the
difference in artifacts can be seen before any training occurs". Each generator of
:mod:`checkerscope.zoo` (DCGAN, pix2pix, CycleGAN, SRGAN, ESRGAN, EDSR, a latent-diffusion
decoder, U-Net; MelGAN, HiFi-GAN and Demucs for audio), built from code at its published
resampling, is audited by :func:`checkerscope.audit` at random init: once per seed a fresh draw
of its weights (the layers' own initialization, or the reference's where it has one) and a
batch of random inputs; the score is the checkerboard score of its outputs (1-D score for
audio). The audit also names the layer that adds the most and measures the fix,
``convert(model, subpixel="icnr")``, on the same seeds; what ``convert(model)`` does with its
defaults is recorded beside it.

The claim is over architectures, each with its own seeds (:class:`ItemsPass`): an architecture
"exhibits checkerboards before training" when the audit's two-sided 95% interval of its mean
score over seeds lies wholly above the audit's threshold (12 dB), and the claim holds when at
least half of the generators do. Discriminators (:data:`checkerscope.experiments.config
.ZOO_DISCRIMINATORS`, at default scale) are audited on the gradient they send back, for the
table only: they are not generators and do not count.

The README's table of architectures is this run's: the experiment's numbers hold it as
markdown under ``readme_markdown`` and ``tools/readme.py`` writes it into the README.
"""

from __future__ import annotations

from typing import Any

from checkerscope.analysis.score import THRESHOLD
from checkerscope.experiments import config as C
from checkerscope.experiments.decision import Claim, Effect, ItemsPass, MeanInterval
from checkerscope.experiments.runner import Context, Experiment, ExperimentResult
from checkerscope.report.figures.architectures import scores_by_architecture
from checkerscope.zoo import SurveyRow, architecture, survey_markdown, survey_row

FRACTION = 0.5
"""At least this fraction of the generators must exhibit checkerboards ("a large fraction")."""

README_BLOCK = "architectures"
"""The README block (``<!-- generated:architectures -->``) the table is written into."""

COMMON = Claim(
    "common_architectures",
    lambda cfg: (
        f"A large fraction of recent models exhibit checkerboards: of the "
        f"{len(cfg.generators)} generators of checkerscope.zoo built from code (image and "
        f"audio), at least {FRACTION:.0%} make them before any training, each judged over "
        f"{cfg.seeds} random draws of its weights: the 95% interval of its mean checkerboard "
        f"score lies wholly above the audit's threshold, {THRESHOLD:g} dB."
    ),
    Effect("checkerboard score of the generator's outputs at random init", "dB"),
    ItemsPass(MeanInterval(THRESHOLD, level=0.975), FRACTION, "architectures"),
)
"""The per-architecture rule, the one-sided 97.5% bound of the mean, is the lower end of the
audit's two-sided 95% interval (:func:`checkerscope.analysis.stats.confidence_interval`)."""


def _row_numbers(row: SurveyRow) -> dict[str, Any]:
    top = row.top_layer
    return {
        "domain": row.domain,
        "role": row.role,
        "resampling": row.upsampler,
        "score_db": row.score,
        "ci_db": row.ci,
        "flagged": row.flagged,
        "top_layer": None
        if top is None
        else {"name": top.name, "kind": top.kind, "score_db": top.score, "hz": row.top_layer_hz},
        "convert_default": row.convert_default,
        "fix": row.fix,
        "fixed_score_db": row.fixed_score,
        "fixed_ci_db": row.fixed_ci,
        "output_std": row.output_std,
        "fixed_output_std": row.fixed_output_std,
    }


def run(ctx: Context) -> ExperimentResult:
    cfg: C.ArchitecturesConfig = ctx.config
    seeds = ctx.seeds(cfg.seeds)
    names = [*cfg.generators, *cfg.discriminators]
    rows: list[SurveyRow] = ctx.map(
        lambda name: survey_row(architecture(name), seeds, cfg.batch), names, "architectures"
    )
    by_name = {r.name: r for r in rows}
    generators = [by_name[n] for n in cfg.generators]
    ctx.decide(
        COMMON.id,
        per_seed={r.name: list(r.seed_scores) for r in generators},
        evidence={
            "threshold_db": THRESHOLD,
            "architectures": {r.name: _row_numbers(r) for r in generators},
            "not_counted_discriminators": {n: _row_numbers(by_name[n]) for n in cfg.discriminators},
        },
    )
    verdicts = ctx.decisions[COMMON.id]["evidence"]["items"]
    exhibits = set(verdicts["passed_items"])
    table = survey_markdown(rows)
    labels = [
        f"{r.name} ({r.domain}{', gradients' if r.mode == 'gradients' else ''})" for r in rows
    ]
    figure = scores_by_architecture(
        labels,
        [r.seed_scores for r in rows],
        [r.ci for r in rows],
        [r.fixed_seed_scores for r in rows],
        [r.fixed_ci for r in rows],
        THRESHOLD,
        [r.name in exhibits if r.role == "generator" else None for r in rows],
    )
    numbers = {
        "rows": [r.to_dict() for r in rows],
        "exhibit": sorted(exhibits),
        "readme_markdown": {README_BLOCK: table},
    }
    caption = (
        f"Every architecture of checkerscope.zoo at random init, {cfg.seeds} seeds each (one "
        f"fresh draw of the weights and {cfg.batch} random inputs per seed): the checkerboard "
        f"score of each seed (dots), the mean (tick) and the 95% interval (bar), before the fix "
        f"(red) and after it (blue). A filled square marks a generator whose whole interval "
        f"lies above the {THRESHOLD:g} dB threshold (dashed): it makes checkerboards before "
        f"training; an open one, a generator that does not clear it. Discriminators (rows "
        f"marked 'gradients', no square) are scored on the gradient they send back and are not "
        f"counted."
    )
    return ExperimentResult(numbers, {"scores": figure}, {"scores": caption})


EXPERIMENT = Experiment(
    id="architectures",
    title="Checkerboards in well-known architectures, before training",
    claims=(COMMON,),
    configs=C.ARCHITECTURES,
    run=run,
    budget=C.BUDGETS["architectures"],
)
