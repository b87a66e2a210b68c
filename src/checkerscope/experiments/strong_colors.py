"""``strong_colors``: checkerboards grow with the distance of a colour from the mean colour.

Odena et al. (2016): "These artifacts tend to be most prominent when outputting unusual
colors. Since neural network layers typically have a bias it's easy to output the average
color. The further a color is away from the average color, the more deconvolution needs to
contribute."

The setting makes that argument literal. Flat target colours lie on the six rays from mid-grey
to the corners of the RGB cube (red, cyan, green, magenta, blue, yellow) at ``levels`` evenly
spaced distances; the set is symmetric about grey, so grey is its mean colour. Each colour has
its own learned low-resolution code, flat (one vector at every position) like the image it
stands for, and one small decoder (``layers`` x2 upsamplers with LeakyReLU between, biases on,
last bias starting at grey) learns them all, codes included, at once with Adam:
its bias can hold the mean colour for every image, so what the weights must paint is the
colour's difference from the mean. After training, the checkerboard amplitude of each output
is the RMS spread of its phase means (period ``2**layers``, borders dropped), in colour units.
The decoder is trained with transposed convolutions and, from the same seeds, with nearest
resize-convolutions.

The codes start small (``code_init`` 0.1 times a normal draw) so that, as the article assumes,
nothing but the bias paints the mean colour and the code a colour ends with is what the
decoder needed to reach it. This matters: starting the codes at 0.3 or more, every colour's
code carries a large random part that the decoder must cancel whatever the colour, and the
residual checkerboard then grows much less with the distance, or not at all.

The analytic prediction beside it: a stack painting a per-channel difference ``delta`` with
uniform kernels leaves ``delta`` times the relative RMS spread of its 2-D overlap pattern
(:func:`checkerscope.analysis.overlap_summary`), zero for resize-convolution.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import torch
from torch import nn

from checkerscope.analysis.phases import checkerboard_amplitude
from checkerscope.analysis.stats import ALPHA
from checkerscope.experiments import config as C
from checkerscope.experiments.runner import Context, Experiment, ExperimentResult
from checkerscope.report.figures.strong_colors import amplitude_vs_distance, color_outputs

CLAIM = "strong_colors"
GROWTH = 2.0
"""The deconvolution's amplitude at the farthest colours must be at least this many times
its amplitude at the mean colour, and at least this many times resize-conv's there."""
GREY = (0.5, 0.5, 0.5)
CORNERS = {
    "red": (1.0, 0.0, 0.0),
    "cyan": (0.0, 1.0, 1.0),
    "green": (0.0, 1.0, 0.0),
    "magenta": (1.0, 0.0, 1.0),
    "blue": (0.0, 0.0, 1.0),
    "yellow": (1.0, 1.0, 0.0),
}


def target_colors(levels: int) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Colours on the rays from grey to the RGB corners: (N, 3), their distances (N,), names.

    ``levels`` distances per ray, from 0 (grey) to the corner; N = 6 * levels, ray by ray.
    """
    grey = torch.tensor(GREY)
    t = torch.linspace(0, 1, levels)
    colors, names = [], []
    for name, corner in CORNERS.items():
        colors.append(grey + t[:, None] * (torch.tensor(corner) - grey))
        names += [name] * levels
    colors_ = torch.cat(colors)
    return colors_, (colors_ - grey).norm(dim=1), names


def build_decoder(variant: str, cfg: C.StrongColorsConfig) -> nn.Sequential:
    """``cfg.layers`` x2 upsamplers of kind ``variant`` from ``cfg.code_channels`` to RGB.

    Deconvolutions use ``cfg.kernel_size``; the last bias starts at grey, the mean colour.
    """
    from checkerscope.nn import upsampler

    widths = [cfg.code_channels] + [cfg.channels] * (cfg.layers - 1) + [3]
    layers: list[nn.Module] = []
    for i, (cin, cout) in enumerate(itertools.pairwise(widths)):
        extra = {"kernel_size": cfg.kernel_size} if variant == "deconv" else {}
        layers.append(upsampler(variant, cin, cout, **extra))
        if i < cfg.layers - 1:
            layers.append(nn.LeakyReLU(0.2))
    decoder = nn.Sequential(*layers)
    with torch.no_grad():
        decoder[-1].bias.copy_(torch.tensor(GREY))
    return decoder


def fit(
    variant: str, cfg: C.StrongColorsConfig, targets: torch.Tensor, seed: int
) -> tuple[torch.Tensor, float]:
    """Train one decoder and a flat code per colour on flat targets (N, 3); outputs, loss."""
    torch.manual_seed(seed)
    decoder = build_decoder(variant, cfg)
    # One learned vector per colour, the same at every position: a flat code for a flat image,
    # starting small so that nothing but the bias paints the mean colour at first.
    start = torch.randn(
        targets.shape[0], cfg.code_channels, 1, 1, generator=torch.Generator().manual_seed(seed + 1)
    )
    vectors = nn.Parameter(start * cfg.code_init)
    goal = targets[:, :, None, None]
    opt = torch.optim.Adam([*decoder.parameters(), vectors], lr=cfg.lr)

    def decode() -> torch.Tensor:
        return decoder(vectors.expand(-1, -1, cfg.code_size, cfg.code_size))

    for _ in range(cfg.steps):
        loss = (decode() - goal).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        out = decode()
        return out, float((out - goal).pow(2).mean())


def analytic_relative_amplitude(variant: str, cfg: C.StrongColorsConfig) -> float:
    """RMS spread of the stack's 2-D interior overlap pattern over its mean (0 if even)."""
    if variant != "deconv":
        return 0.0  # nearest resize: every output reads every tap once
    from checkerscope.analysis import overlap_summary

    pattern = overlap_summary([(cfg.kernel_size, 2)] * cfg.layers, (1, 1)).pattern.double()
    return float((pattern - pattern.mean()).pow(2).mean().sqrt() / pattern.mean())


def run(ctx: Context) -> ExperimentResult:
    cfg: C.StrongColorsConfig = ctx.config
    targets, distance, names = target_colors(cfg.levels)
    period = 2**cfg.layers
    amplitude: dict[str, torch.Tensor] = {}
    losses: dict[str, list[float]] = {}
    examples: dict[str, torch.Tensor] = {}
    with ctx.progress(cfg.seeds * len(cfg.variants), "fit decoders") as bar:
        for variant in cfg.variants:
            runs, losses[variant] = [], []
            for k in range(cfg.seeds):
                out, loss = fit(variant, cfg, targets, ctx.seed + 1000 * k)
                # period pixels dropped at every border, where padding changes the overlap
                runs.append(checkerboard_amplitude(out, period, margin=period))
                losses[variant].append(loss)
                if k == 0:
                    examples[variant] = out[[i for i, n in enumerate(names) if n == "red"]]
                bar.advance()
            amplitude[variant] = torch.stack(runs).mean(0)

    # Per level: the mean over the six rays (every ray has the same distances).
    levels = torch.linspace(0, 1, cfg.levels)
    level_distance = distance[: cfg.levels]
    per_level = {v: a.reshape(len(CORNERS), cfg.levels).mean(0) for v, a in amplitude.items()}
    channel_rms = level_distance / math.sqrt(3)  # RMS over channels of (colour - grey)
    predicted = {
        v: (channel_rms * analytic_relative_amplitude(v, cfg)).tolist() for v in cfg.variants
    }
    _decide(ctx, cfg, distance, amplitude, per_level, losses, predicted)

    numbers = {
        "levels": levels.tolist(),
        "distance": level_distance.tolist(),
        "amplitude_per_level": {v: a.tolist() for v, a in per_level.items()},
        "amplitude_per_color": {v: a.tolist() for v, a in amplitude.items()},
        "colors": targets.tolist(),
        "color_names": names,
        "analytic_amplitude_per_level": predicted,
        "final_loss": losses,
    }
    figures = {
        "amplitude": amplitude_vs_distance(
            level_distance.tolist(),
            {v: a.tolist() for v, a in per_level.items()},
            predicted,
        ),
        "outputs": color_outputs(
            {v: x for v, x in examples.items()}, targets[: cfg.levels], levels.tolist()
        ),
    }
    return ExperimentResult(numbers, figures)


def _decide(
    ctx: Context,
    cfg: C.StrongColorsConfig,
    distance: torch.Tensor,
    amplitude: dict[str, torch.Tensor],
    per_level: dict[str, torch.Tensor],
    losses: dict[str, list[float]],
    predicted: dict[str, list[float]],
) -> None:
    from scipy.stats import spearmanr

    stats: dict[str, dict[str, Any]] = {}
    for v, a in amplitude.items():
        rho = spearmanr(distance.numpy(), a.numpy(), alternative="greater")
        first, last = float(per_level[v][0]), float(per_level[v][-1])
        stats[v] = {
            "spearman_rho": float(rho.statistic),
            "spearman_p": float(rho.pvalue),
            "amplitude_at_mean_color": first,
            "amplitude_at_farthest": last,
            "endpoint_ratio": last / first if first > 0 else math.inf,
            "final_loss": sum(losses[v]) / len(losses[v]),
        }
    deconv, resize = stats["deconv"], stats["resize_conv"]
    versus_resize = (
        deconv["amplitude_at_farthest"] / resize["amplitude_at_farthest"]
        if resize["amplitude_at_farthest"] > 0
        else math.inf
    )
    ctx.claim(
        CLAIM,
        "Checkerboards are strongest in colours far from the mean colour: decoders with "
        f"k{cfg.kernel_size} s2 transposed convolutions, fitted to flat colours around grey, "
        "leave a checkerboard amplitude that grows with the colour's distance from grey "
        f"(Spearman rho > 0, one-sided p < {ALPHA:g}) to at least {GROWTH:g} times its value "
        f"at grey, and at least {GROWTH:g} times nearest resize-convolution's at the "
        "farthest colours.",
        deconv["spearman_rho"] > 0
        and deconv["spearman_p"] < ALPHA
        and deconv["endpoint_ratio"] >= GROWTH
        and versus_resize >= GROWTH,
        {
            "effect_size": deconv["endpoint_ratio"],
            "effect_size_name": "deconv checkerboard amplitude ratio, farthest colour / grey",
            "deconv": deconv,
            "resize_conv": resize,
            "deconv_over_resize_conv_at_farthest": versus_resize,
            "analytic_amplitude_at_farthest": {v: p[-1] for v, p in predicted.items()},
            "colors": int(distance.numel()),
            "seeds": cfg.seeds,
            "steps": cfg.steps,
            "code_init": cfg.code_init,
        },
    )


EXPERIMENT = Experiment(
    id="strong_colors",
    title="Checkerboards grow with the distance of a colour from the mean colour",
    claims=(CLAIM,),
    configs=C.STRONG_COLORS,
    run=run,
)
