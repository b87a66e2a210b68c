"""``style_transfer``: feed-forward style transfer with deconvolution, resize-conv, and TV.

Odena et al. (2016): networks "trained to directly generate style-transferred images" are
"vulnerable to checkerboard artifacts (especially when the cost doesn't explicitly resist
them)", and "switching deconvolutional layers for resize-convolution layers makes the
artifacts disappear". Here the network of Johnson, Alahi & Fei-Fei (2016)
(:class:`~checkerscope.experiments.stylization.TransformerNet`) is trained three times per
seed, from the seed's own initialization and data order: with 3x3 stride-2 transposed
convolutions (Johnson's) and no total-variation term, with nearest resize-convolutions (3x3)
and no total-variation term, and with transposed convolutions and a total-variation term of
weight ``tv_weight`` (declared in the config, before the run). Claims:

* ``style_transfer``: the deconvolution network's held-out outputs score higher than the
  resize-convolution network's, while both stylize and keep their content, comparably;
* ``loss_resists_artifacts``: without the total-variation term the deconvolution network's
  outputs score higher than with it, while both stylize and keep their content, the TV
  network about as stylized as the other.

Loss: without user weights, the texture model of Ustyuzhaninov, Brendel, Gatys & Bethge
(2017), one layer of random filters of several sizes
(:class:`~checkerscope.features.RandomFilterBank`), a stand-in for VGG-16 that synthesises
textures on random weights; with ``vgg_weights`` (``--vgg-weights FILE``), VGG-16 (style
relu1_2/2_2/3_3/4_3, content relu2_2). Terms are weighted in units of their magnitudes on
the training crops at the start (:func:`~checkerscope.experiments.stylization.calibrate`).

Evidence, per seed and network, read in another random network than the loss's
(:class:`~checkerscope.experiments.stylization.StyleGrader`): the style distance ratio (Gram
distance of the outputs to the style over the contents'; 1 = not stylized) and the content
ratio (distance to the own content over the distance to the others; 1 = content lost), both at
initialization and after training, the checkerboard scores of the held-out outputs at both
times, and the loss terms in units of their references. The grader's reading of two controls
is recorded beside them: crops of the style photograph itself (what full stylization reads)
and blurred contents (what blur alone reads). Every network checkpoints and resumes exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from checkerscope.analysis.score import checkerboard_score
from checkerscope.data import embedded_photographs, random_crops
from checkerscope.experiments import config as C
from checkerscope.experiments.decision import Claim, Effect, Guard, MeanInterval, differences
from checkerscope.experiments.runner import Context, Experiment, ExperimentResult
from checkerscope.experiments.stylization import (
    LossWeights,
    PerceptualLoss,
    StyleGrader,
    StyleObjective,
    TransformerNet,
    calibrate,
    mean,
    train_style,
)
from checkerscope.features import FeatureExtractor
from checkerscope.report.figures.style_transfer import loss_curves, per_seed_measures, stylized

VARIANTS = {"deconv": ("deconv", False), "resize_conv": ("resize_conv", False),
            "deconv_tv": ("deconv", True)}  # fmt: skip
"""Network name -> (upsampler kind, whether the loss has the total-variation term)."""
STYLIZED = 0.5
"""A network stylizes when its outputs' Gram distance to the style is at most this fraction of
their contents' (read by the grader)."""
CONTENT_KEPT = 0.7
"""A network keeps the content when its outputs are at most this fraction as far from their own
contents as from the other contents (read by the grader)."""
COMPARABLE = 0.25
"""Two networks are comparable when their style distance ratios (and content ratios) differ by
at most this much."""

LATTICE = 4
"""The grader averages images over 4 x 4 windows, so the period-2 and period-4 checkerboards
of the two stride-2 upsamplers never count against how stylized a network is."""
WASHED = 0.3
"""The control wash-out: contents pulled to mid-grey, keeping this fraction of their contrast."""
BLUR_TAPS = 5
"""The control blur: a binomial filter of this many taps (standard deviation 1 pixel)."""
SETTINGS_TRIED = (
    "the config of this run (lr 1e-3, tv_weight 0.1, style_weight 1), quick and default, base "
    "seeds 0, 1 and 2",
    "lr 1e-2 at quick, base seed 0 only: no network kept its content (content ratio 0.86-1.07) "
    "and deconv did not stylize (style ratio 0.89-1.14); both claims did not hold; not adopted",
)
"""Every setting tried while this experiment was written, whatever it gave (recorded in the
evidence of both claims)."""

STYLE_GUARDS = (
    Guard("style distance ratio, the less stylized of the two networks", at_most=STYLIZED),
    Guard("content ratio, the network keeping less content", at_most=CONTENT_KEPT),
    Guard("style distance ratio, |deconv - resize-conv|", at_most=COMPARABLE),
    Guard("content ratio, |deconv - resize-conv|", at_most=COMPARABLE),
)
TV_GUARDS = (
    Guard("style distance ratio, the less stylized of the two deconv networks", at_most=STYLIZED),
    Guard("content ratio, the deconv network keeping less content", at_most=CONTENT_KEPT),
    Guard("style distance ratio, with TV - without TV", at_most=COMPARABLE),
)


def _loss_name(cfg: C.StyleTransferConfig) -> str:
    if cfg.vgg_weights:
        return "a perceptual loss on VGG-16 features (user weights)"
    return (
        "a texture loss on one layer of random filters (Ustyuzhaninov et al. 2017, a stand-in "
        "for VGG-16)"
    )


def _conditions(cfg: C.StyleTransferConfig) -> str:
    return (
        f"{cfg.steps} training steps, {_loss_name(cfg)}, seed by seed; both networks stylize "
        f"(the outputs' Gram distance to the style at most {STYLIZED:g} of their contents') and "
        f"keep their content (content ratio at most {CONTENT_KEPT:g}), comparably (the two "
        f"ratios within {COMPARABLE:g})"
    )


STYLE_TRANSFER = Claim(
    "style_transfer",
    lambda cfg: (
        "A feed-forward style-transfer network (Johnson et al. 2016) with 3x3 stride-2 "
        "transposed convolutions stylizes held-out crops with a higher checkerboard score "
        "than the same network trained the same way with nearest resize-convolutions, after "
        f"{_conditions(cfg)}."
    ),
    Effect("held-out output score, deconv - resize-conv", "dB"),
    MeanInterval(0.0),
    guards=STYLE_GUARDS,
)
LOSS_RESISTS = Claim(
    "loss_resists_artifacts",
    lambda cfg: (
        "A cost that does not resist checkerboards lets them through: the style-transfer "
        "network with transposed convolutions, trained without a total-variation term, "
        "stylizes held-out crops with a higher checkerboard score than when its loss adds a "
        f"total-variation term of weight {cfg.tv_weight:g} (in units of the crops' own total "
        f"variation, declared before the run), after {_conditions(cfg)}."
    ),
    Effect("held-out output score, deconv without TV - deconv with TV", "dB"),
    MeanInterval(0.0),
    guards=TV_GUARDS,
)


def feature_network(cfg: C.StyleTransferConfig) -> tuple[FeatureExtractor, int]:
    """The loss's feature network and the index of its content map: VGG-16 from
    ``cfg.vgg_weights`` (content relu2_2) if given, else the random filter bank (its one map)."""
    from checkerscope.features import RandomFilterBank, VGG16Features

    if cfg.vgg_weights:
        return VGG16Features.from_file(cfg.vgg_weights), 1
    bank = RandomFilterBank(sizes=cfg.texture_sizes, filters=cfg.texture_filters,
                            seed=cfg.feature_seed)  # fmt: skip
    return bank, 0


def style_photograph(name: str) -> torch.Tensor:
    """The style image (3, H, W) in [0, 1]: an embedded photograph by name, or an image file."""
    photos = embedded_photographs()
    if name in photos:
        return photos[name]
    if Path(name).is_file():
        from checkerscope.images import load_image

        image = load_image(name)
        return image.expand(3, -1, -1) if image.shape[0] == 1 else image[:3]
    raise ValueError(
        f"style_image must name an embedded photograph ({', '.join(photos)}) or an image "
        f"file, got {name!r}"
    )


def shrink(images: torch.Tensor, factor: float) -> torch.Tensor:
    """Images (N, 3, H, W) scaled by ``factor`` <= 1 with an anti-aliased bilinear filter."""
    if factor == 1:
        return images
    out = F.interpolate(images, scale_factor=factor, mode="bilinear", antialias=True)
    return out.clamp(0, 1)


def zoomed_crops(pool: list[torch.Tensor], n: int, cfg: C.StyleTransferConfig, seed: int,
                 strong_colors: bool) -> torch.Tensor:  # fmt: skip
    """``n`` crops of ``zoom * image_size`` pixels from ``pool``, shrunk to ``image_size``."""
    side = cfg.zoom * cfg.image_size
    usable = [im for im in pool if min(im.shape[-2:]) >= side]
    if not usable:
        raise ValueError(f"no content image is at least {side}x{side} pixels (zoom x image_size)")
    crops = random_crops(usable, n, side, seed, strong_colors=strong_colors)
    return shrink(crops, 1 / cfg.zoom) if cfg.zoom > 1 else crops


def one_network(
    cfg: C.StyleTransferConfig,
    variant: str,
    seed: int,
    objective: StyleObjective,
    contents: torch.Tensor,
    held_out: torch.Tensor,
    grader: StyleGrader,
    checkpoint_dir: Path,
    keep: int,
) -> dict[str, Any]:
    """Train ``variant`` from ``seed``; its held-out numbers at initialization and after
    training, the loss terms, the training curve and its first ``keep`` outputs."""
    kind, _ = VARIANTS[variant]
    torch.manual_seed(seed + 2)
    net = TransformerNet(cfg.width, cfg.blocks, upsample=kind)

    def measure() -> tuple[dict[str, Any], torch.Tensor]:
        with torch.no_grad():
            y = net.eval()(held_out)
        net.train()
        scores = checkerboard_score(y)
        return {
            "score_db": scores.tolist(),
            "score_mean_db": float(scores.mean()),
            "style_ratio": grader.style_ratio(y, held_out),
            "gram_ratio": grader.gram_ratio(y, held_out),
            "content_ratio": grader.content_ratio(y, held_out),
            "loss_terms": objective.terms(y, held_out),
        }, y

    at_init, _ = measure()
    curve = train_style(
        net, objective, contents, cfg, seed=seed + 3,
        checkpoint=checkpoint_dir / f"{variant}_seed{seed}.pt",
    )  # fmt: skip
    trained, y = measure()
    return {**trained, "at_init": at_init, "curve": curve, "outputs": y[:keep]}


def run(ctx: Context) -> ExperimentResult:
    cfg: C.StyleTransferConfig = ctx.config
    photograph = style_photograph(cfg.style_image)
    style = shrink(photograph[None], 1 / cfg.zoom)[0]
    pool = [im for im in ctx.data.images()
            if im.shape != photograph.shape or not torch.equal(im, photograph)]  # fmt: skip
    strong = ctx.data.strong_colors
    contents = zoomed_crops(pool, cfg.n_train, cfg, ctx.seed, strong)
    held_out = zoomed_crops(pool, cfg.n_eval, cfg, ctx.seed + 1, strong)
    features, content_index = feature_network(cfg)
    loss = PerceptualLoss(features, style, content_index)
    weights = calibrate(loss, contents[: cfg.n_reference], cfg.style_weight)
    objectives = {v: StyleObjective(loss, weights.with_tv(cfg.tv_weight if tv else 0.0))
                  for v, (_, tv) in VARIANTS.items()}  # fmt: skip
    from checkerscope.features import RandomMultiScaleCNN

    grader_net = RandomMultiScaleCNN(widths=cfg.grader_widths, seed=cfg.grader_seed)
    grader = StyleGrader(grader_net, style, period=LATTICE)
    seeds = ctx.seeds(cfg.seeds)
    tasks = [(s, v) for s in seeds for v in VARIANTS]
    done = ctx.map(
        lambda t: one_network(
            cfg, t[1], t[0], objectives[t[1]], contents, held_out, grader, ctx.checkpoint_dir,
            keep=cfg.shown if t[0] == seeds[0] else 0,
        ),
        tasks,
        "train networks",
    )  # fmt: skip
    per = {v: [r for (_, name), r in zip(tasks, done, strict=True) if name == v] for v in VARIANTS}

    def each(variant: str, key: str, when: str | None = None) -> list[float]:
        return [(r[when] if when else r)[key] for r in per[variant]]

    score = {v: each(v, "score_mean_db") for v in VARIANTS}
    style_r = {v: each(v, "style_ratio") for v in VARIANTS}
    content_r = {v: each(v, "content_ratio") for v in VARIANTS}

    def worst(a: str, b: str, values: dict[str, list[float]]) -> list[float]:
        return [max(x, y) for x, y in zip(values[a], values[b], strict=True)]

    def gap(a: str, b: str, values: dict[str, list[float]]) -> list[float]:
        return [abs(x - y) for x, y in zip(values[a], values[b], strict=True)]

    controls = _controls(grader, photograph, held_out, cfg, ctx.seed + 2, strong)
    common = {
        "features": "vgg16" if cfg.vgg_weights else "random_filter_bank",
        "style_image": cfg.style_image,
        "steps": cfg.steps,
        "settings_tried": list(SETTINGS_TRIED),
        "loss_weights": _weights_evidence(weights, cfg),
        "grader": f"RandomMultiScaleCNN(widths={list(cfg.grader_widths)}, "
        f"seed={cfg.grader_seed}) on images averaged over {LATTICE}x{LATTICE} windows",
        "grader_controls": controls,
        "score_init_db_per_seed": {v: each(v, "score_mean_db", "at_init") for v in VARIANTS},
        "style_ratio_init_per_seed": {v: each(v, "style_ratio", "at_init") for v in VARIANTS},
        "content_ratio_init_per_seed": {v: each(v, "content_ratio", "at_init") for v in VARIANTS},
        "gram_ratio_per_seed": {v: each(v, "gram_ratio") for v in VARIANTS},
        "loss_terms_per_seed": {v: each(v, "loss_terms") for v in VARIANTS},
        "data_score_db": float(checkerboard_score(held_out).mean()),
    }
    measured = {
        "score_db_per_seed": score,
        "style_ratio_per_seed": style_r,
        "content_ratio_per_seed": content_r,
    }
    two = ("deconv", "resize_conv")
    ctx.decide(
        STYLE_TRANSFER.id,
        per_seed=differences(score["deconv"], score["resize_conv"]),
        guards={
            STYLE_GUARDS[0].name: worst(*two, style_r),
            STYLE_GUARDS[1].name: worst(*two, content_r),
            STYLE_GUARDS[2].name: gap(*two, style_r),
            STYLE_GUARDS[3].name: gap(*two, content_r),
        },
        evidence={**common, **{k: {v: x[v] for v in two} for k, x in measured.items()}},
    )
    tv_pair = ("deconv", "deconv_tv")
    ctx.decide(
        LOSS_RESISTS.id,
        per_seed=differences(score["deconv"], score["deconv_tv"]),
        guards={
            TV_GUARDS[0].name: worst(*tv_pair, style_r),
            TV_GUARDS[1].name: worst(*tv_pair, content_r),
            TV_GUARDS[2].name: differences(style_r["deconv_tv"], style_r["deconv"]),
        },
        evidence={
            **common,
            "tv_weight": cfg.tv_weight,
            "tv_settings_tried": [cfg.tv_weight],
            "score_deconv_tv_minus_resize_conv_db_per_seed": differences(
                score["deconv_tv"], score["resize_conv"]
            ),
            **{k: {v: x[v] for v in tv_pair} for k, x in measured.items()},
        },
    )
    return _result(cfg, style, held_out, per, measured, common)


@torch.no_grad()
def _controls(
    grader: StyleGrader,
    photograph: torch.Tensor,
    held_out: torch.Tensor,
    cfg: C.StyleTransferConfig,
    seed: int,
    strong: bool,
) -> dict[str, float]:
    """What the grader reads for images it must not take for stylized (blurred, washed-out,
    flat) and for crops of the style photograph itself (full stylization)."""
    from checkerscope.functional.blurpool import binomial_taps, blur, separable_kernel

    styled = zoomed_crops([photograph], held_out.shape[0], cfg, seed, strong)
    blurred = blur(held_out, separable_kernel(binomial_taps(BLUR_TAPS), 2))
    washed = 0.5 + (held_out - 0.5) * WASHED
    flat = styled.mean(dim=(-2, -1), keepdim=True).expand_as(styled)
    return {
        "style_ratio_of_style_photograph_crops": grader.style_ratio(styled, held_out),
        "style_ratio_of_blurred_contents": grader.style_ratio(blurred, held_out),
        "style_ratio_of_washed_out_contents": grader.style_ratio(washed, held_out),
        "style_ratio_of_flat_style_colours": grader.style_ratio(flat, held_out),
        "gram_ratio_of_style_photograph_crops": grader.gram_ratio(styled, held_out),
        "gram_ratio_of_washed_out_contents": grader.gram_ratio(washed, held_out),
        "gram_ratio_of_flat_style_colours": grader.gram_ratio(flat, held_out),
        "content_ratio_of_style_photograph_crops": grader.content_ratio(styled, held_out),
        "content_ratio_of_blurred_contents": grader.content_ratio(blurred, held_out),
        "blur": f"binomial filter of {BLUR_TAPS} taps per axis",
        "washed_out": f"0.5 + {WASHED:g} (content - 0.5)",
        "flat_style_colours": "each style photograph crop replaced by its mean colour",
    }


def _weights_evidence(weights: LossWeights, cfg: C.StyleTransferConfig) -> dict[str, Any]:
    return {
        "style_weight": cfg.style_weight,
        "tv_weight": cfg.tv_weight,
        "content_reference": weights.content_reference,
        "style_reference": weights.style_reference,
        "tv_reference": weights.tv_reference,
        "calibration": "each term divided by its magnitude on the first "
        f"{cfg.n_reference} training crops before training: content of crop i against crop "
        "i+1, style of the crops themselves, total variation of the crops",
    }


def _result(
    cfg: C.StyleTransferConfig,
    style: torch.Tensor,
    held_out: torch.Tensor,
    per: dict[str, list[dict[str, Any]]],
    measured: dict[str, dict[str, list[float]]],
    common: dict[str, Any],
) -> ExperimentResult:
    first = {v: per[v][0] for v in VARIANTS}
    labels = {
        v: f"{v}\nstyle {first[v]['style_ratio']:.2f}\ncontent {first[v]['content_ratio']:.2f}"
        for v in VARIANTS
    }
    stand_in = (
        "VGG-16 features (user weights)"
        if cfg.vgg_weights
        else "one layer of random filters of several sizes (Ustyuzhaninov et al. 2017), a "
        "stand-in for VGG-16"
    )
    numbers: dict[str, Any] = {
        **common,
        **measured,
        "score_db": {v: [r["score_db"] for r in per[v]] for v in VARIANTS},
        "score_mean_db": {v: mean(measured["score_db_per_seed"][v]) for v in VARIANTS},
        "loss_curves": {v: first[v]["curve"] for v in VARIANTS},
        "guards": {
            "stylized_at_most": STYLIZED,
            "content_kept_at_most": CONTENT_KEPT,
            "comparable_within": COMPARABLE,
        },
    }
    figures = {
        "outputs": stylized(
            held_out[: cfg.shown], style, {labels[v]: first[v]["outputs"] for v in VARIANTS},
            {labels[v]: first[v]["score_db"][: cfg.shown] for v in VARIANTS},
        ),
        "per_seed": per_seed_measures(
            {
                "checkerboard score (dB)": measured["score_db_per_seed"],
                "style distance ratio (1 = not stylized)": measured["style_ratio_per_seed"],
                "content ratio (1 = content lost)": measured["content_ratio_per_seed"],
            },
            {"style distance ratio (1 = not stylized)": STYLIZED,
             "content ratio (1 = content lost)": CONTENT_KEPT},
        ),
        "losses": loss_curves({v: first[v]["curve"] for v in VARIANTS}),
    }  # fmt: skip
    captions = {
        "outputs": "Held-out content crops (top) stylized after training by the network with "
        "transposed convolutions (deconv), with nearest resize-convolutions (resize_conv) and "
        "with transposed convolutions and a total-variation term (deconv_tv), first seed, "
        f"beside the style image; the loss is computed on {stand_in}. Above each output, its "
        "checkerboard score; beside each row, the network's style distance ratio (0 = the "
        "style's Gram matrices, 1 = the content's) and content ratio (0 = the content, 1 = "
        "no closer to its own content than to the others), read in a second random network. "
        "Look for the fine grid in the deconv row, absent from the others.",
        "per_seed": "Every seed's networks, one line per seed across the three networks: "
        "checkerboard score of the held-out outputs, style distance ratio and content ratio "
        "(read in a random multi-scale CNN other than the loss's); dashed, the guards a "
        f"network must meet (style at most {STYLIZED:g}, content at most {CONTENT_KEPT:g}). "
        "The claims are decided on these per-seed numbers.",
        "losses": f"Training loss (content + style, + total variation for deconv_tv, each in "
        f"units of its value on the crops at the start; on {stand_in}) of the three networks, "
        "first seed.",
    }
    return ExperimentResult(numbers, figures, captions)


EXPERIMENT = Experiment(
    id="style_transfer",
    title="Feed-forward style transfer: deconvolution, resize-convolution, total variation",
    claims=(STYLE_TRANSFER, LOSS_RESISTS),
    configs=C.STYLE_TRANSFER,
    run=run,
    budget=C.BUDGETS["style_transfer"],
)
