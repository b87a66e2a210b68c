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

ICNR: at initialization a sub-pixel layer with ICNR is a convolution at low resolution
followed by a nearest upsampling (so its generator's images are made of 2 x 2 blocks), which is
exactly a nearest resize-convolution with the sub-kernel dilated by the scale. The claim checks
that equivalence numerically, the article's notion of a checkerboard (unequal paint per phase:
the layers' phase imbalance and the images' phase contrast) and the checkerboard score.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from checkerscope.analysis.phases import phase_contrast
from checkerscope.analysis.score import checkerboard_score
from checkerscope.analysis.spectra import hf_fraction, spectrum
from checkerscope.analysis.stats import ALPHA, LARGE_EFFECT, MEDIUM_EFFECT, compare
from checkerscope.experiments import config as C
from checkerscope.experiments.common import random_init_outputs
from checkerscope.experiments.runner import Context, Experiment, ExperimentResult
from checkerscope.report.figures.init_artifacts import radial_spectra, score_distributions
from checkerscope.report.figures.training import sample_grids

CLAIMS = (
    "init_artifacts",
    "even_overlap_still_artifacts",
    "icnr_artifact_free",
    "bilinear_resists_hf",
)
EQUAL_ATOL = 1e-5
"""Largest |difference| between two float32 generators that compute the same function."""
ZERO = 1e-12
"""Phase imbalances at or below this are zero (exact float64 sums)."""


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


def run(ctx: Context) -> ExperimentResult:
    cfg: C.InitArtifactsConfig = ctx.config
    # Both BatchNorm modes are scored; the one of cfg.batchnorm is measured in full.
    per_seed: dict[str, dict[str, dict[str, list[float]]]] = {
        mode: {
            v: {"score": []} | ({"contrast": [], "hf": []} if mode == cfg.batchnorm else {})
            for v in cfg.variants
        }
        for mode in ("train", "eval")
    }
    imbalance: dict[str, list[float]] = {v: [] for v in cfg.variants}
    radial: dict[str, torch.Tensor] = {}
    gallery: dict[str, torch.Tensor] = {}
    icnr_difference = 0.0
    builders: dict[str, Callable[[], nn.Module]] = {
        v: (lambda v=v: build_generator(v, cfg)) for v in cfg.variants
    }
    with ctx.progress(cfg.seeds * len(cfg.variants), "random generators") as bar:
        for k in range(cfg.seeds):
            seed = ctx.seed + 1000 * k
            z = torch.randn(cfg.batch_size, cfg.nz, generator=torch.Generator().manual_seed(seed))
            for variant in cfg.variants:
                model, outputs = random_init_outputs(builders[variant], seed + 1, z)
                numbers = _measure(outputs[cfg.batchnorm], cfg.hf_cutoff)
                for key in ("score", "contrast", "hf"):
                    per_seed[cfg.batchnorm][variant][key].append(float(numbers[key].mean()))
                radial[variant] = radial.get(variant, 0) + numbers["radial"] / cfg.seeds
                other = "eval" if cfg.batchnorm == "train" else "train"
                per_seed[other][variant]["score"].append(
                    float(checkerboard_score(outputs[other]).mean())
                )
                imbalance[variant].append(_imbalance(model))
                if k == 0:
                    gallery[variant] = outputs[cfg.batchnorm][:4]
                if variant == "subpixel_icnr":
                    twin = icnr_as_resize_conv(model).train(cfg.batchnorm == "train")
                    with torch.no_grad():
                        same = twin(z)
                    diff = float((same - outputs[cfg.batchnorm]).abs().max())
                    icnr_difference = max(icnr_difference, diff)
                bar.advance()

    data = ctx.data.crops(cfg.n_data, cfg.image_size, seed=ctx.seed) * 2 - 1
    data_numbers = _measure(data, cfg.hf_cutoff)
    data_summary = {
        "score": float(data_numbers["score"].mean()),
        "contrast": float(data_numbers["contrast"].mean()),
        "hf": float(data_numbers["hf"].mean()),
    }
    chosen = per_seed[cfg.batchnorm]
    _decide(ctx, cfg, chosen, per_seed, imbalance, data_numbers, data_summary, icnr_difference)

    summary = {
        mode: {
            v: {key: sum(vals) / len(vals) for key, vals in per_seed[mode][v].items()}
            for v in cfg.variants
        }
        for mode in per_seed
    }
    numbers = {
        "batchnorm": cfg.batchnorm,
        "summary": summary,
        "per_seed": per_seed,
        "phase_imbalance": {v: sum(x) / len(x) for v, x in imbalance.items()},
        "data": data_summary,
        "icnr_max_abs_difference": icnr_difference,
    }
    frequency = torch.arange(radial[cfg.variants[0]].numel()) / cfg.image_size
    figures = {
        "gallery": sample_grids(
            {f"{v}\n{chosen[v]['score'][0]:.1f} dB": x for v, x in gallery.items()}, columns=2
        ),
        "spectra": radial_spectra(
            frequency,
            {**{v: r.tolist() for v, r in radial.items()}, "data": data_numbers["radial"].tolist()},
            cfg.hf_cutoff,
        ),
        "scores": score_distributions(
            {v: chosen[v]["score"] for v in cfg.variants}, data_summary["score"]
        ),
    }
    return ExperimentResult(numbers, figures)


def _test(a: list[float], b: list[float]) -> tuple[bool, dict[str, Any]]:
    """Whether ``a`` is larger than ``b`` (:meth:`Comparison.larger`), and the comparison."""
    c = compare(a, b)
    return c.larger(), c.as_dict()


def _decide(
    ctx: Context,
    cfg: C.InitArtifactsConfig,
    chosen: dict[str, dict[str, list[float]]],
    per_seed: dict[str, dict[str, dict[str, list[float]]]],
    imbalance: dict[str, list[float]],
    data_numbers: dict[str, torch.Tensor],
    data_summary: dict[str, float],
    icnr_difference: float,
) -> None:
    score = {v: chosen[v]["score"] for v in cfg.variants}
    data_scores = data_numbers["score"].tolist()
    common = {"seeds": cfg.seeds, "batchnorm": cfg.batchnorm, "alpha": ALPHA}

    held, k4_vs_resize = _test(score["deconv_k4"], score["resize_conv"])
    eval_held, k4_vs_resize_eval = _test(
        per_seed["eval"]["deconv_k4"]["score"], per_seed["eval"]["resize_conv"]["score"]
    )
    ctx.claim(
        "init_artifacts",
        "Before any training, DCGAN generators with random weights and k4 s2 transposed "
        "convolutions (DCGAN's default) make images with a higher checkerboard score than the "
        "same generators with nearest resize-convolution (one generator per seed; Welch t and "
        f"Mann-Whitney U one-sided, p < {ALPHA:g}; Cohen's d > {LARGE_EFFECT:g}).",
        held,
        {
            "effect_size": k4_vs_resize["cohens_d"],
            "effect_size_name": "Cohen's d (deconv k4 vs nearest resize-conv score)",
            **common,
            "deconv_k4_vs_resize_conv": k4_vs_resize,
            "eval_mode_holds": eval_held,
            "eval_mode_deconv_k4_vs_resize_conv": k4_vs_resize_eval,
        },
    )

    above_data, k4_vs_data = _test(score["deconv_k4"], data_scores)
    k3_vs_resize = compare(score["deconv_k3"], score["resize_conv"]).as_dict()
    k3_vs_k4 = compare(score["deconv_k3"], score["deconv_k4"]).as_dict()
    k4_imbalance = min(imbalance["deconv_k4"])
    ctx.claim(
        "even_overlap_still_artifacts",
        "Even overlap does not prevent checkerboards at initialization: k4 s2 transposed "
        "convolutions overlap evenly, yet their random weights give unequal phase sums (phase "
        "imbalance > 0 in every generator), and their images score above nearest "
        "resize-convolution's and above the data's (same tests); k3 s2 (uneven) is shown "
        "for comparison.",
        held and above_data and k4_imbalance > ZERO,
        {
            "effect_size": min(k4_vs_resize["cohens_d"], k4_vs_data["cohens_d"]),
            "effect_size_name": "smallest Cohen's d of deconv k4's score vs nearest "
            "resize-conv's and vs the data's",
            **common,
            "deconv_k4_vs_resize_conv": k4_vs_resize,
            "deconv_k4_vs_data": k4_vs_data,
            "deconv_k3_vs_resize_conv": k3_vs_resize,
            "deconv_k3_vs_deconv_k4": k3_vs_k4,
            "deconv_k4_phase_imbalance_min": k4_imbalance,
            "deconv_k3_phase_imbalance_mean": sum(imbalance["deconv_k3"]) / cfg.seeds,
            "data_score_db": data_summary["score"],
        },
    )

    contrast = {v: chosen[v]["contrast"] for v in cfg.variants}
    icnr_contrast = sum(contrast["subpixel_icnr"]) / cfg.seeds
    resize_contrast = sum(contrast["resize_conv"]) / cfg.seeds
    plain_above, plain_vs_icnr = _test(contrast["subpixel"], contrast["subpixel_icnr"])
    scores_like = compare(score["subpixel_icnr"], score["resize_conv"]).as_dict()
    plain_scores_above, plain_vs_icnr_score = _test(score["subpixel"], score["subpixel_icnr"])
    icnr_zero = max(imbalance["subpixel_icnr"]) <= ZERO
    plain_positive = min(imbalance["subpixel"]) > ZERO
    ctx.claim(
        "icnr_artifact_free",
        "At initialization an ICNR sub-pixel generator is a nearest resize-convolution "
        f"generator (outputs equal within {EQUAL_ATOL:g}) and paints every phase alike: its "
        "layers' phase imbalance is 0, its images' period-2 phase contrast is no higher "
        "than nearest resize-conv's and their checkerboard score is like resize-conv's (ICNR "
        f"above resize-conv by less than a medium effect, Cohen's d < {MEDIUM_EFFECT:g}); plain "
        "sub-pixel (independent phases) has positive imbalance, and a higher contrast and a "
        "higher score than ICNR (same tests as above).",
        icnr_difference <= EQUAL_ATOL
        and icnr_zero
        and plain_positive
        and icnr_contrast <= resize_contrast
        and scores_like["cohens_d"] < MEDIUM_EFFECT
        and plain_above
        and plain_scores_above,
        {
            "effect_size": scores_like["cohens_d"],
            "effect_size_name": "Cohen's d (ICNR vs nearest resize-conv score; small = alike)",
            **common,
            "max_abs_difference_to_nearest_resize_conv": icnr_difference,
            "icnr_phase_imbalance_max": max(imbalance["subpixel_icnr"]),
            "subpixel_phase_imbalance_min": min(imbalance["subpixel"]),
            "icnr_phase_contrast": icnr_contrast,
            "resize_conv_phase_contrast": resize_contrast,
            "subpixel_vs_icnr_phase_contrast": plain_vs_icnr,
            "score_db": {
                v: sum(score[v]) / cfg.seeds for v in ("subpixel", "subpixel_icnr", "resize_conv")
            },
            "icnr_vs_resize_conv_score": scores_like,
            "subpixel_vs_icnr_score": plain_vs_icnr_score,
            "data_score_db": data_summary["score"],
        },
    )

    hf = {v: chosen[v]["hf"] for v in cfg.variants}
    data_hf = data_numbers["hf"].tolist()
    below_nearest, nearest_vs_bilinear = _test(hf["resize_conv"], hf["bilinear_resize_conv"])
    below_data, data_vs_bilinear = _test(data_hf, hf["bilinear_resize_conv"])
    ctx.claim(
        "bilinear_resists_hf",
        "Bilinear resize-convolution resists high frequencies: at initialization its images "
        f"carry a smaller fraction of their (non-DC) power above {cfg.hf_cutoff:g} cycles per "
        "pixel than nearest resize-convolution's and than the data's (same tests).",
        below_nearest and below_data,
        {
            "effect_size": min(nearest_vs_bilinear["cohens_d"], data_vs_bilinear["cohens_d"]),
            "effect_size_name": "smallest Cohen's d of the HF fraction, nearest resize-conv's "
            "and the data's over bilinear's",
            **common,
            "hf_cutoff_cycles_per_pixel": cfg.hf_cutoff,
            "hf_fraction": {v: sum(x) / len(x) for v, x in hf.items()},
            "data_hf_fraction": data_summary["hf"],
            "nearest_vs_bilinear": nearest_vs_bilinear,
            "data_vs_bilinear": data_vs_bilinear,
        },
    )


EXPERIMENT = Experiment(
    id="init_artifacts",
    title="Checkerboards of random-weight generators, before any training",
    claims=CLAIMS,
    configs=C.INIT_ARTIFACTS,
    run=run,
)
