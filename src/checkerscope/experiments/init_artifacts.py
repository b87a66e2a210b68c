"""``init_artifacts``: checkerboards of random-weight generators, before any training.

Odena et al. (2016): "the difference in artifacts can be seen before any training occurs. If
we look at the images the generator produces, initialized with random weights, we can already
see the artifacts." Here one DCGAN generator (:class:`checkerscope.models.DCGANGenerator`) is
drawn afresh for every seed and every upsampler: transposed convolution k4 s2 (DCGAN's, even
overlap) and k3 s2 (uneven), sub-pixel convolution with independent phases and with ICNR, and
nearest and bilinear resize-convolution. All variants of a seed see the same noise. The unit of
every test is the seed (one generator), scored by the mean over its samples.

BatchNorm: the claims are decided with batch statistics (``batchnorm="train"``), which is how
a GAN generator runs, and samples, while it trains; eval mode at initialization makes every
BatchNorm the identity, so activations shrink layer by layer until the biases dominate, a
network that no training step ever runs. Eval-mode numbers are recorded beside them.

Claims measured here are the *initialization* versions (ids ending in ``_at_init``); the
article speaks of learned kernels too, which trained experiments decide under the plain ids.
Each claim's unit is the seed: one generator per seed and upsampler, its effect the difference
of the means over its samples.

ICNR: at initialization a sub-pixel layer with ICNR is a convolution at low resolution
followed by a nearest upsampling (so its generator's images are made of 2 x 2 blocks), which is
exactly a nearest resize-convolution with the sub-kernel dilated by the scale. That equivalence
is checked numerically in every seed and recorded among the numbers (``icnr``); it is a fact of
the layer, not a claim of the article, so it decides nothing.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from checkerscope.analysis.phases import phase_contrast
from checkerscope.analysis.score import checkerboard_score
from checkerscope.analysis.spectra import hf_fraction, spectrum
from checkerscope.experiments import config as C
from checkerscope.experiments.common import random_init_outputs
from checkerscope.experiments.decision import (
    Claim,
    Effect,
    EverySeed,
    Guard,
    MeanInterval,
    differences,
)
from checkerscope.experiments.runner import Context, Experiment, ExperimentResult
from checkerscope.report.figures.init_artifacts import radial_spectra, score_distributions
from checkerscope.report.figures.training import sample_grids

INIT_ARTIFACTS = Claim(
    "init_artifacts",
    "Before any training, DCGAN generators with random weights and k4 s2 transposed "
    "convolutions (DCGAN's default) make images with a higher checkerboard score than the same "
    "generators with nearest resize-convolution, seed by seed (one generator per seed; the same "
    "noise for both).",
    Effect("checkerboard score, deconv k4 generator - nearest resize-conv generator", "dB"),
    EverySeed(0.0),
)
EVEN_OVERLAP_AT_INIT = Claim(
    "even_overlap_still_artifacts_at_init",
    "Even overlap does not prevent checkerboards at initialization: k4 s2 transposed "
    "convolutions overlap evenly, yet their random weights give unequal phase sums (phase "
    "imbalance > 0 in every generator), and their images score above the data's (and above "
    "nearest resize-convolution's in every seed); k3 s2 (uneven) is shown for comparison.",
    Effect("checkerboard score, deconv k4 generator - the data's mean score", "dB"),
    MeanInterval(0.0),
    guards=(
        Guard("phase imbalance of the deconv k4 layers", at_least=1e-6),
        Guard("score, deconv k4 - nearest resize-conv", "dB", at_least=0.0),
    ),
)
BILINEAR_AT_INIT = Claim(
    "bilinear_resists_hf_at_init",
    lambda cfg: (
        "Bilinear resize-convolution resists high frequencies: at initialization its "
        "images carry a smaller fraction of their (non-DC) power above "
        f"{cfg.hf_cutoff:g} cycles per pixel than nearest resize-convolution's in every seed, "
        "and less than the data's."
    ),
    Effect("high-frequency power fraction, nearest - bilinear resize-conv", ""),
    EverySeed(0.0),
    guards=(Guard("high-frequency power fraction, the data's mean - bilinear's", at_least=0.0),),
)
CLAIMS = (INIT_ARTIFACTS, EVEN_OVERLAP_AT_INIT, BILINEAR_AT_INIT)
EQUAL_ATOL = 1e-5
"""Largest |difference| between two float32 generators that compute the same function."""


def build_generator(variant: str, cfg: C.InitArtifactsConfig) -> nn.Module:
    """The DCGAN generator of ``variant``: an upsampler kind, or ``deconv_k4`` / ``deconv_k3``.

    ``deconv_k3`` swaps every k4 transposed convolution for a k3 one (same size mapping).
    """
    from checkerscope.models import DCGANGenerator
    from checkerscope.nn import upsampler

    kind = "deconv" if variant.startswith("deconv_k") else variant
    g = DCGANGenerator(cfg.nz, cfg.ngf, 3, cfg.image_size, upsample=kind)
    if variant.startswith("deconv_k") and variant != "deconv_k4":
        k = int(variant.removeprefix("deconv_k"))
        for i, m in enumerate(g.main):
            if isinstance(m, nn.ConvTranspose2d):
                g.main[i] = upsampler("deconv", m.in_channels, m.out_channels, kernel_size=k)
    return g


def icnr_as_resize_conv(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every ICNR ``SubPixelConv2d`` replaced by its nearest resize-conv.

    Uses :func:`checkerscope.functional.subpixel.nearest_resize_conv_weight` on the layer's
    one sub-kernel (zero padding in both, as the equality requires).
    """
    from checkerscope.functional.subpixel import nearest_resize_conv_weight
    from checkerscope.nn import ResizeConv2d, SubPixelConv2d

    twin = copy.deepcopy(model)
    for name, m in list(twin.named_modules()):
        if not isinstance(m, SubPixelConv2d):
            continue
        s = m.scale_factor
        sub_kernel = m.conv.weight.detach()[:: s * s]
        weight = nearest_resize_conv_weight(sub_kernel, s)
        layer = ResizeConv2d(
            m.in_channels,
            m.out_channels,
            tuple(weight.shape[2:]),
            scale_factor=s,
            mode="nearest",
            padding_mode="zeros",
            bias=m.conv.bias is not None,
        )
        with torch.no_grad():
            layer.weight.copy_(weight)
            if m.conv.bias is not None:
                layer.bias.copy_(m.conv.bias[:: s * s])
        parent_name, _, child = name.rpartition(".")
        setattr(twin.get_submodule(parent_name) if parent_name else twin, child, layer)
    return twin


def _imbalance(model: nn.Module) -> float:
    """Mean phase imbalance of the upsampling layers of ``model`` (0 if it has none)."""
    from checkerscope.analysis import phase_imbalance
    from checkerscope.nn import ResizeConv2d, SubPixelConv2d

    upsamplers = (nn.ConvTranspose2d, SubPixelConv2d, ResizeConv2d)
    layers = [m for m in model.modules() if isinstance(m, upsamplers)]
    values = [phase_imbalance(m).imbalance for m in layers]
    return sum(values) / len(values) if values else 0.0


def _measure(x: torch.Tensor, cutoff: float) -> dict[str, torch.Tensor]:
    return {
        "score": checkerboard_score(x),
        "contrast": phase_contrast(x, 2),
        "hf": hf_fraction(x, cutoff),
        "radial": spectrum(x).radial.mean(0),
    }


def one_seed(cfg: C.InitArtifactsConfig, seed: int, keep: int = 0) -> dict[str, Any]:
    """Every variant's generator for ``seed``: its numbers (means over the samples, both
    BatchNorm modes), radial spectrum, phase imbalance, the ICNR twin's largest difference,
    and its first ``keep`` samples."""
    z = torch.randn(cfg.batch_size, cfg.nz, generator=torch.Generator().manual_seed(seed))
    other = "eval" if cfg.batchnorm == "train" else "train"
    out: dict[str, Any] = {"variants": {}, "icnr_max_abs_difference": 0.0}
    for variant in cfg.variants:
        model, outputs = random_init_outputs(lambda v=variant: build_generator(v, cfg), seed + 1, z)
        numbers = _measure(outputs[cfg.batchnorm], cfg.hf_cutoff)
        out["variants"][variant] = {
            "score": float(numbers["score"].mean()),
            "contrast": float(numbers["contrast"].mean()),
            "hf": float(numbers["hf"].mean()),
            f"score_{other}_mode": float(checkerboard_score(outputs[other]).mean()),
            "imbalance": _imbalance(model),
            "radial": numbers["radial"],
            "samples": outputs[cfg.batchnorm][:keep],
        }
        if variant == "subpixel_icnr":
            twin = icnr_as_resize_conv(model).train(cfg.batchnorm == "train")
            with torch.no_grad():
                same = twin(z)
            out["icnr_max_abs_difference"] = float((same - outputs[cfg.batchnorm]).abs().max())
    return out


def run(ctx: Context) -> ExperimentResult:
    cfg: C.InitArtifactsConfig = ctx.config
    seeds = ctx.seeds(cfg.seeds)
    data = ctx.data.crops(cfg.n_data, cfg.image_size, seed=ctx.seed) * 2 - 1
    data_numbers = _measure(data, cfg.hf_cutoff)
    data_summary = {k: float(data_numbers[k].mean()) for k in ("score", "contrast", "hf")}
    shown = 4
    per = ctx.map(
        lambda s: one_seed(cfg, s, keep=shown if s == seeds[0] else 0), seeds, "random generators"
    )
    v = {name: [p["variants"][name] for p in per] for name in cfg.variants}

    def each(variant: str, key: str) -> list[float]:
        return [x[key] for x in v[variant]]

    other = "eval" if cfg.batchnorm == "train" else "train"
    score = {name: each(name, "score") for name in cfg.variants}
    k4_minus_resize = differences(score["deconv_k4"], score["resize_conv"])
    eval_k4_minus_resize = differences(
        each("deconv_k4", f"score_{other}_mode"), each("resize_conv", f"score_{other}_mode")
    )
    common = {"batchnorm": cfg.batchnorm, "data_score_db": data_summary["score"]}
    ctx.decide(
        INIT_ARTIFACTS.id,
        per_seed=k4_minus_resize,
        evidence={
            **common,
            "score_db": {n: _mean(score[n]) for n in ("deconv_k4", "deconv_k3", "resize_conv")},
            f"{other}_mode_score_difference_db_per_seed": eval_k4_minus_resize,
        },
    )
    ctx.decide(
        EVEN_OVERLAP_AT_INIT.id,
        per_seed=[a - data_summary["score"] for a in score["deconv_k4"]],
        guards={
            "phase imbalance of the deconv k4 layers": each("deconv_k4", "imbalance"),
            "score, deconv k4 - nearest resize-conv": k4_minus_resize,
        },
        evidence={
            **common,
            "deconv_k3_minus_resize_conv_score_db_per_seed": differences(
                score["deconv_k3"], score["resize_conv"]
            ),
            "deconv_k3_phase_imbalance_mean": _mean(each("deconv_k3", "imbalance")),
            "deconv_k4_phase_imbalance_mean": _mean(each("deconv_k4", "imbalance")),
        },
    )
    hf = {name: each(name, "hf") for name in cfg.variants}
    ctx.decide(
        BILINEAR_AT_INIT.id,
        per_seed=differences(hf["resize_conv"], hf["bilinear_resize_conv"]),
        guards={
            "high-frequency power fraction, the data's mean - bilinear's": [
                data_summary["hf"] - b for b in hf["bilinear_resize_conv"]
            ]
        },
        evidence={
            "hf_cutoff_cycles_per_pixel": cfg.hf_cutoff,
            "hf_fraction": {n: _mean(x) for n, x in hf.items()},
            "data_hf_fraction": data_summary["hf"],
        },
    )

    icnr_difference = max(p["icnr_max_abs_difference"] for p in per)
    radial = {n: torch.stack([x["radial"] for x in v[n]]).mean(0) for n in cfg.variants}
    numbers = {
        "batchnorm": cfg.batchnorm,
        "summary": {
            mode: {
                n: _mean(each(n, "score" if mode == cfg.batchnorm else f"score_{other}_mode"))
                for n in cfg.variants
            }
            for mode in (cfg.batchnorm, other)
        },
        "per_seed": {
            n: {k: each(n, k) for k in ("score", "contrast", "hf", "imbalance")}
            for n in cfg.variants
        },
        "data": data_summary,
        "icnr": {
            "max_abs_difference_to_nearest_resize_conv": icnr_difference,
            "equal_within": EQUAL_ATOL,
            "equal": icnr_difference <= EQUAL_ATOL,
            "phase_imbalance_max": max(each("subpixel_icnr", "imbalance")),
            "note": "at init an ICNR sub-pixel generator computes a nearest resize-conv "
            "generator's function (checked in every seed); not a claim of the article",
        },
    }
    frequency = torch.arange(radial[cfg.variants[0]].numel()) / cfg.image_size
    gallery = {f"{n}\n{score[n][0]:.1f} dB": v[n][0]["samples"] for n in cfg.variants}
    figures = {
        "gallery": sample_grids(gallery, columns=2),
        "spectra": radial_spectra(
            frequency,
            {**{n: r.tolist() for n, r in radial.items()}, "data": data_numbers["radial"].tolist()},
            cfg.hf_cutoff,
        ),
        "scores": score_distributions(score, data_summary["score"]),
    }
    captions = {
        "gallery": "Samples of one random-weight generator per upsampler (the same noise), "
        "before any training, with the generator's mean checkerboard score: both "
        "deconvolutions and plain sub-pixel paint a grid; ICNR and resize-convolution do not "
        "(ICNR's images are 2x2 blocks, exactly a nearest resize-conv's).",
        "spectra": f"Radial power spectra, mean over {cfg.seeds} random generators per upsampler, "
        "and the data (dashed): deconvolution and plain sub-pixel have peaks at the "
        "upsampling periods; bilinear resize-conv falls below the others at high frequencies "
        f"(right of the dotted line at {cfg.hf_cutoff:g} cycles/pixel).",
        "scores": "Checkerboard score of each random generator (one dot per seed, bar at the "
        "mean) against the data's mean (dashed): the seed is the unit of every claim here.",
    }
    return ExperimentResult(numbers, figures, captions)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


EXPERIMENT = Experiment(
    id="init_artifacts",
    title="Checkerboards of random-weight generators, before any training",
    claims=CLAIMS,
    configs=C.INIT_ARTIFACTS,
    run=run,
    budget=C.BUDGETS["init_artifacts"],
)
