"""``trained_upsamplers``: do the upsamplers' artifacts survive training?

Odena et al. (2016) speak of learned kernels: "models with even overlap often learn kernels
that cause similar artifacts ... although they seem milder"; sub-pixel convolution "helps, [but]
it is still easy for deconvolution to fall into creating artifacts"; bilinear resize "resists
high-frequency image features too strongly". ``init_artifacts`` checks these at
initialization; here the same generators are trained.

Training many GANs does not fit the budget, so the training task is reconstruction, cheap and
with one right answer: x4 super-resolution. For every seed and upsampler, the DCGAN generator
of ``init_artifacts`` (a linear projection to 4x4, x2 upsampling layers with BatchNorm and
ReLU, tanh) takes the 8x8 area-average thumbnail of a 32x32 photo crop (its 192 values as the
latent code) and learns to give back the crop, by mean squared error (Adam). Every upsampler
of a seed sees the same crops in the same order and starts from the same seed. A checkerboard
here is an error the loss pays for, so what remains after training is what the upsampler
could not unlearn in that time.

Each trained generator is scored on held-out crops (the mean checkerboard score of its
reconstructions and their high-frequency power fraction), as it is before training; the
unit of every claim is the seed. Training checkpoints and resumes exactly.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from checkerscope.experiments import config as C
from checkerscope.experiments.common import train_on_batches
from checkerscope.experiments.context import Bar, Context, Experiment, ExperimentResult
from checkerscope.experiments.decision import Claim, Effect, Guard, MeanInterval, differences
from checkerscope.experiments.trained_gans import generate
from checkerscope.report.figures.training import before_after, sample_grids


def trained(cfg: C.TrainedUpsamplersConfig) -> str:
    """What was trained, for the claims' statements."""
    return (
        f"DCGAN generators trained {cfg.steps} steps by mean squared error to rebuild "
        f"{cfg.image_size}x{cfg.image_size} photo crops from their "
        f"{cfg.thumbnail}x{cfg.thumbnail} thumbnails (x{cfg.image_size // cfg.thumbnail} "
        "super-resolution; one generator per upsampler and seed, the same crops, batch order "
        "and seed for every upsampler)"
    )


EVEN_VS_UNEVEN = "score after training, k3 s2 deconv - k4 s2 deconv"
SUBPIXEL_VS_FIXES = "score after training, plain sub-pixel - the higher of ICNR's and resize-conv's"
SUBPIXEL_VS_DATA = "score after training, plain sub-pixel - the data's mean"
EVEN_VS_RESIZE = "score after training, k4 s2 deconv - nearest resize-conv"
EVEN_VS_DATA = "score after training, k4 s2 deconv - the data's mean"
NEAREST_VS_BILINEAR = "high-frequency power fraction after training, nearest - bilinear resize-conv"
DATA_VS_BILINEAR = "high-frequency power fraction, the data's mean - bilinear resize-conv's"

MILDER = Claim(
    "learned_even_overlap_milder",
    lambda cfg: (
        "Even overlap gives milder checkerboards after training: "
        f"{trained(cfg)} with k4 s2 transposed convolutions (even overlap) make held-out "
        "reconstructions with a lower checkerboard score than with k3 s2 (uneven)."
    ),
    Effect(EVEN_VS_UNEVEN, "dB"),
    MeanInterval(0.0),
)
SUBPIXEL = Claim(
    "subpixel_after_training",
    lambda cfg: (
        f"Sub-pixel convolution still makes checkerboards after training: {trained(cfg)} "
        "with plain sub-pixel convolution (independent phases) make reconstructions scoring "
        "above the data's crops, and above both ICNR sub-pixel and nearest resize-convolution."
    ),
    Effect(SUBPIXEL_VS_FIXES, "dB"),
    MeanInterval(0.0),
    guards=(Guard(SUBPIXEL_VS_DATA, "dB", at_least=0.0),),
)
EVEN_STILL = Claim(
    "even_overlap_still_artifacts",
    lambda cfg: (
        f"Even overlap does not prevent checkerboards after training: {trained(cfg)} with "
        "k4 s2 transposed convolutions make reconstructions scoring above nearest "
        "resize-convolution's, and above the data's crops in every seed."
    ),
    Effect(EVEN_VS_RESIZE, "dB"),
    MeanInterval(0.0),
    guards=(Guard(EVEN_VS_DATA, "dB", at_least=0.0),),
)
BILINEAR = Claim(
    "bilinear_resists_hf",
    lambda cfg: (
        f"Bilinear resize-convolution resists high frequencies after training: {trained(cfg)} "
        "with bilinear resize-convolution make reconstructions with a smaller fraction of "
        f"their (non-DC) power above {cfg.hf_cutoff:g} cycles per pixel than nearest "
        "resize-convolution's, and than the data's crops in every seed."
    ),
    Effect(NEAREST_VS_BILINEAR, ""),
    MeanInterval(0.0),
    guards=(Guard(DATA_VS_BILINEAR, at_least=0.0),),
)
CLAIMS = (MILDER, SUBPIXEL, EVEN_STILL, BILINEAR)


@dataclasses.dataclass(frozen=True)
class Split:
    """The data of one seed: training ``crops`` (n_train, 3, S, S) in [-1, 1] and their
    flattened thumbnails ``codes`` (n_train, 3 * T * T); held-out ``test`` crops and
    ``test_codes`` (n_eval of each)."""

    crops: torch.Tensor
    codes: torch.Tensor
    test: torch.Tensor
    test_codes: torch.Tensor


def thumbnails(crops: torch.Tensor, cfg: C.TrainedUpsamplersConfig) -> torch.Tensor:
    """The area-average thumbnails of ``crops`` (N, 3, S, S), flattened: (N, 3 * T * T).

    Example:
        >>> cfg = C.TRAINED_UPSAMPLERS["quick"]
        >>> thumbnails(torch.ones(2, 3, 32, 32), cfg).shape
        torch.Size([2, 192])
    """
    return F.avg_pool2d(crops, cfg.image_size // cfg.thumbnail).flatten(1)


def split(ctx: Context, cfg: C.TrainedUpsamplersConfig, seed: int) -> Split:
    """The training crops of ``seed`` (drawn from ``seed``) and its held-out ones
    (``seed + 1``), with their thumbnails."""
    crops = ctx.data.crops(cfg.n_train, cfg.image_size, seed=seed) * 2 - 1
    test = ctx.data.crops(cfg.n_eval, cfg.image_size, seed=seed + 1) * 2 - 1
    return Split(crops, thumbnails(crops, cfg), test, thumbnails(test, cfg))


def measure(images: torch.Tensor, cutoff: float) -> dict[str, float]:
    """Mean checkerboard score (dB) and high-frequency power fraction of ``images``."""
    from checkerscope.analysis.score import checkerboard_score
    from checkerscope.analysis.spectra import hf_fraction

    return {
        "score": float(checkerboard_score(images).double().mean()),
        "hf": float(hf_fraction(images, cutoff).mean()),
    }


def psnr(outputs: torch.Tensor, crops: torch.Tensor) -> float:
    """PSNR (dB) of reconstructions of ``crops``, both in [-1, 1] (peak-to-peak 2).

    Example:
        >>> psnr(torch.zeros(1, 3, 4, 4), torch.full((1, 3, 4, 4), 0.2))
        20.0
    """
    return round(10 * math.log10(4.0 / float(F.mse_loss(outputs, crops))), 6)


def generator(variant: str, cfg: C.TrainedUpsamplersConfig, nz: int, seed: int) -> nn.Module:
    """The ``init_artifacts`` generator of ``variant`` for codes of ``nz`` values, drawn from
    ``seed + 11``."""
    from checkerscope.experiments.init_artifacts import build_generator

    shape = dataclasses.replace(
        C.INIT_ARTIFACTS["quick"], image_size=cfg.image_size, nz=nz, ngf=cfg.ngf
    )
    torch.manual_seed(seed + 11)
    return build_generator(variant, shape)


def train_generator(
    G: nn.Module,
    crops: torch.Tensor,
    codes: torch.Tensor,
    cfg: C.TrainedUpsamplersConfig,
    *,
    seed: int,
    checkpoint: Path,
    bar: Bar | None = None,
) -> list[float]:
    """Train ``G`` to map ``codes`` (N, nz) to ``crops`` (N, 3, S, S) by mean squared error,
    batches drawn from ``seed + 12``; resumable from ``checkpoint``. Returns the losses."""
    return train_on_batches(
        G,
        lambda index: F.mse_loss(G(codes[index]), crops[index]),
        crops.shape[0],
        cfg,
        seed=seed + 12,
        checkpoint=checkpoint,
        bar=bar,
        name="G",
    )


def one_generator(
    ctx: Context, cfg: C.TrainedUpsamplersConfig, seed: int, variant: str, data: Split
) -> dict[str, Any]:
    """Train the generator of (seed, variant) on ``data`` and measure it on the held-out crops
    before and after training."""
    G = generator(variant, cfg, data.codes.shape[1], seed).to(ctx.device)
    before = measure(generate(G, data.test_codes), cfg.hf_cutoff)
    checkpoint = ctx.checkpoint_dir / f"{variant}_seed{seed}.pt"
    crops, codes = data.crops.to(ctx.device), data.codes.to(ctx.device)
    losses = train_generator(G, crops, codes, cfg, seed=seed, checkpoint=checkpoint)
    outputs = generate(G, data.test_codes)
    after = measure(outputs, cfg.hf_cutoff) | {"psnr": psnr(outputs, data.test)}
    return {"before": before, "after": after, "loss": losses[-1], "samples": outputs[: cfg.shown]}


def run(ctx: Context) -> ExperimentResult:
    cfg: C.TrainedUpsamplersConfig = ctx.config
    seeds = ctx.seeds(cfg.seeds)
    tasks = [(seed, variant) for seed in seeds for variant in cfg.variants]
    splits = {seed: split(ctx, cfg, seed) for seed in seeds}  # drawn once, shared by tasks
    results = ctx.map(lambda t: one_generator(ctx, cfg, *t, splits[t[0]]), tasks, "train")
    done = dict(zip(tasks, results, strict=True))
    data = [measure(splits[s].test, cfg.hf_cutoff) for s in seeds]

    def after(variant: str, key: str) -> list[float]:
        return [done[(s, variant)]["after"][key] for s in seeds]

    def before(variant: str, key: str) -> list[float]:
        return [done[(s, variant)]["before"][key] for s in seeds]

    score = {v: after(v, "score") for v in cfg.variants}
    data_score = [d["score"] for d in data]
    data_hf = [d["hf"] for d in data]
    at_init = {v: before(v, "score") for v in cfg.variants}
    common = {
        "score_after_training_db": score,
        "score_at_initialization_db": at_init,
        "data_score_db_per_seed": data_score,
        "psnr_after_training_db": {v: after(v, "psnr") for v in cfg.variants},
        "steps": cfg.steps,
    }
    ctx.decide(
        MILDER.id,
        per_seed=differences(score["deconv_k3"], score["deconv_k4"]),
        evidence={
            **common,
            "at_initialization_k3_minus_k4_db": differences(
                at_init["deconv_k3"], at_init["deconv_k4"]
            ),
        },
    )
    ctx.decide(
        SUBPIXEL.id,
        per_seed=[
            s - max(i, r)
            for s, i, r in zip(
                score["subpixel"], score["subpixel_icnr"], score["resize_conv"], strict=True
            )
        ],
        guards={SUBPIXEL_VS_DATA: differences(score["subpixel"], data_score)},
        evidence=common,
    )
    ctx.decide(
        EVEN_STILL.id,
        per_seed=differences(score["deconv_k4"], score["resize_conv"]),
        guards={EVEN_VS_DATA: differences(score["deconv_k4"], data_score)},
        evidence=common,
    )
    hf = {v: after(v, "hf") for v in cfg.variants}
    ctx.decide(
        BILINEAR.id,
        per_seed=differences(hf["resize_conv"], hf["bilinear_resize_conv"]),
        guards={DATA_VS_BILINEAR: differences(data_hf, hf["bilinear_resize_conv"])},
        evidence={
            "hf_cutoff_cycles_per_pixel": cfg.hf_cutoff,
            "hf_fraction_after_training": hf,
            "hf_fraction_at_initialization": {v: before(v, "hf") for v in cfg.variants},
            "data_hf_fraction_per_seed": data_hf,
            "steps": cfg.steps,
        },
    )

    first = seeds[0]
    figures = {
        "scores": before_after(
            {v: (at_init[v], score[v]) for v in cfg.variants},
            "checkerboard score of reconstructions (dB)",
            data_score,
        ),
        "hf": before_after(
            {v: (before(v, "hf"), hf[v]) for v in cfg.variants},
            f"power fraction above {cfg.hf_cutoff:g} cycles/pixel",
            data_hf,
        ),
        "samples": sample_grids(
            {
                **{v: done[(first, v)]["samples"] for v in cfg.variants},
                "data": splits[first].test[: cfg.shown],
            },
            columns=3,
            per_row=4,
        ),
    }
    captions = {
        "scores": "Checkerboard score of each generator's held-out reconstructions at "
        "initialization (hollow) and after training (filled), one pair per seed, per "
        "upsampler; dashed: the data's crops. Read the claims off the filled dots: k4 against "
        "k3 deconvolution, plain sub-pixel against ICNR and resize-convolution.",
        "hf": "Fraction of the reconstructions' power above the high-frequency cutoff, before "
        "(hollow) and after (filled) training; dashed: the data's. Bilinear resize-convolution "
        "(purple) against nearest (blue).",
        "samples": "Held-out reconstructions of the first seed's trained generators, one "
        "panel per upsampler (the same thumbnails), beside the crops they rebuild (data).",
    }
    numbers = {
        "per_seed": {
            v: {
                "before": [done[(s, v)]["before"] for s in seeds],
                "after": [done[(s, v)]["after"] for s in seeds],
                "final_loss": [done[(s, v)]["loss"] for s in seeds],
            }
            for v in cfg.variants
        },
        "data": data,
    }
    return ExperimentResult(numbers, figures, captions)


EXPERIMENT = Experiment(
    id="trained_upsamplers",
    title="Upsamplers after training: even overlap, sub-pixel, bilinear",
    claims=CLAIMS,
    configs=C.TRAINED_UPSAMPLERS,
    run=run,
    budget=C.BUDGETS["trained_upsamplers"],
)
