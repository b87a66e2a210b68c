"""``arithmetic``: the article's overlap and operator arithmetic, checked over a grid.

Odena, Dumoulin & Olah (2016) argue from counting: a transposed convolution with kernel k and
stride s paints overlapping windows, unevenly when s does not divide k; in 2-D the two axes
multiply, squaring the unevenness; stacks compound it at several periods; a stride-1 last
layer removes the periods that divide its size and damps the others; and resize-convolution,
as a matrix, ties its weights so that every output phase sums the same weights.

Everything here is exact arithmetic with :mod:`checkerscope.analysis` (overlap counts of
all-ones kernels, operator matrices, phase responses of random weights), each cross-checked
against an independent computation: the counts against ``conv_transpose`` of ones, the phase
responses against the row sums of the operator matrices. No training, no data.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from checkerscope.experiments import config as C
from checkerscope.experiments.decision import Claim, Effect, Exact
from checkerscope.experiments.runner import Context, Experiment, ExperimentResult
from checkerscope.report.figures.arithmetic import (
    overlap_bars,
    overlap_maps,
    ratio_maps,
    stack_figure,
)
from checkerscope.report.figures.overlap import operator_matrix_figure

OVERLAP_UNEVEN_1D = Claim(
    "overlap_uneven_1d",
    "In 1-D a transposed convolution overlaps unevenly exactly when its stride does not "
    "divide its kernel size (checked for every kernel size and stride of the grid, with "
    "brute-force conv_transpose counts agreeing): k3 s2 has interior max/min 2, k4 s2 has 1.",
    Effect("max/min overlap ratio, k3 s2 1-D", ""),
    Exact(),
)
OVERLAP_2D_SQUARED = Claim(
    "overlap_2d_squared",
    "In 2-D the overlap is the outer product of the two axes, so the max/min ratio is the "
    "1-D ratio squared for every kernel size and stride of the grid (k3 s2: 2 -> 4), with "
    "brute-force 2-D conv_transpose counts agreeing.",
    Effect("max/min overlap ratio, k3 s2 2-D", ""),
    Exact(),
)
OVERLAP_STACK_COMPOUNDS = Claim(
    "overlap_stack_compounds",
    "Stacking k3 s2 transposed convolutions compounds the unevenness: a stack of n layers is "
    "uneven at every period 2, 4, ..., 2**n, and its interior max/min exceeds one layer's.",
    Effect("max/min overlap ratio of the deepest k3 s2 stack, 1-D", ""),
    Exact(),
)
STRIDE1_DAMPENS = Claim(
    "stride1_dampens",
    "A stride-1 last layer of kernel size k after a stack of k3 s2 transposed convolutions "
    "removes the unevenness at every period that divides k (k a multiple of the stride "
    "removes period 2) and reduces it at the other periods (amplitudes of the exact-period "
    "components of the overlap pattern, relative to its mean).",
    Effect("largest amplitude left at a period dividing the stride-1 kernel (0 = removed)", ""),
    Exact(),
)
MATRIX_WEIGHT_TYING = Claim(
    "matrix_weight_tying",
    lambda cfg: (
        "As matrices, a k4 s2 deconvolution gives each entry of an output window its "
        "own weight (distinct entries = free parameters), while nearest k3 resize-convolution ties "
        "them (more distinct entries than free parameters, and every output row sums all "
        "weights), so for any weights resize-conv's phase imbalance is 0 and the deconvolution's "
        f"is not ({cfg.weight_draws} random weight draws, 1-D and 2-D; phase responses agree "
        "with the operator matrices' row sums)."
    ),
    Effect("phase imbalance gap: deconv's min - resize-conv's max (over draws, 1-D and 2-D)", ""),
    Exact(),
)
CLAIMS = (
    OVERLAP_UNEVEN_1D,
    OVERLAP_2D_SQUARED,
    OVERLAP_STACK_COMPOUNDS,
    STRIDE1_DAMPENS,
    MATRIX_WEIGHT_TYING,
)
EXACT = 1e-12
"""Numbers this close are equal: every quantity here is an exact count or a float64 sum."""


def brute_force_counts(kernel_size: int, stride: int, dims: int) -> torch.Tensor:
    """Interior overlap counts by running ``conv_transpose`` on ones with an all-ones kernel.

    The input has ``4 * kernel_size`` samples per axis; interior outputs are those that every
    tap of the kernel reaches from inside the input. Returns the interior (int64, ``dims``-D).
    """
    n = 4 * kernel_size
    conv = {1: F.conv_transpose1d, 2: F.conv_transpose2d}[dims]
    ones = torch.ones(1, 1, *(n,) * dims, dtype=torch.float64)
    out = conv(ones, torch.ones(1, 1, *(kernel_size,) * dims, dtype=torch.float64), stride=stride)
    interior = slice(kernel_size - 1, (n - 1) * stride + 1)
    return out[(0, 0, *(interior,) * dims)].round().long()


def _ratio(counts: torch.Tensor) -> float:
    lo, hi = int(counts.min()), int(counts.max())
    return hi / lo if lo > 0 else math.inf


def _same(a: float, b: float) -> bool:
    return a == b or abs(a - b) <= EXACT * max(abs(a), abs(b))


def _grid(cfg: C.ArithmeticConfig) -> list[dict[str, Any]]:
    """The 1-D and 2-D interior ratios of every (kernel_size, stride), library and brute force."""
    from checkerscope.analysis import overlap_summary

    rows = []
    for s in cfg.strides:
        for k in cfg.kernel_sizes:
            one, two = overlap_summary((k, s), 1), overlap_summary((k, s), (1, 1))
            rows.append(
                {
                    "kernel_size": k,
                    "stride": s,
                    "pattern": list(one.axes[0].pattern),
                    "ratio_1d": one.ratio,
                    "ratio_2d": two.ratio,
                    "brute_ratio_1d": _ratio(brute_force_counts(k, s, 1)),
                    "brute_ratio_2d": _ratio(brute_force_counts(k, s, 2)),
                    "pattern_2d": two.pattern.tolist(),
                    "gaps": math.isinf(one.ratio),
                    "uneven": one.ratio != 1.0,
                    "divisible": k % s == 0,
                }
            )
    return rows


def _stacks(cfg: C.ArithmeticConfig) -> dict[str, Any]:
    from checkerscope.analysis import overlap_summary

    out = {}
    for depth in cfg.stack_depths:
        axis = overlap_summary([(3, 2)] * depth, 1).axes[0]
        out[str(depth)] = {
            "pattern": list(axis.pattern),
            "period": axis.period,
            "ratio": axis.ratio,
            "uneven_periods": list(axis.uneven_periods),
            "period_ratios": {str(p): r for p, r in axis.period_ratios.items()},
            "period_amplitudes": {str(p): a for p, a in axis.period_amplitudes.items()},
        }
    return out


def _stride1(cfg: C.ArithmeticConfig) -> dict[str, Any]:
    """Exact-period amplitudes of k3 s2 stacks followed by a stride-1 layer of each size.

    Size 1 is the stack alone. A box of size k multiplies the component at frequency f by
    ``|sin(pi f k) / (k sin(pi f))|``, which vanishes for every f = j/p exactly when p divides
    k and is below 1 otherwise, so that is the expected pattern.
    """
    from checkerscope.analysis import overlap_summary

    out = {}
    for depth in cfg.stride1_depths:
        base = [(3, 2)] * depth
        periods = [2**i for i in range(1, depth + 1)]
        rows = []
        for k1 in cfg.stride1_kernel_sizes:
            axis = overlap_summary([*base, (k1, 1)], 1).axes[0]
            rows.append(
                {
                    "kernel_size": k1,
                    "ratio": axis.ratio,
                    "amplitudes": {str(p): axis.period_amplitudes.get(p, 0.0) for p in periods},
                }
            )
        out[str(depth)] = {"periods": periods, "rows": rows}
    return out


def _by_phase(matrix: torch.Tensor, stride: int, margin: int) -> torch.Tensor:
    """Row sums of a 1-D operator matrix (out, in) by output phase, ``margin`` rows from the
    borders: (stride, rows per phase), each what a constant 1 input gives at that output."""
    sums = matrix.sum(1)
    t = torch.arange(margin, matrix.shape[0] - margin)
    per = [sums[t[t % stride == r]] for r in range(stride)]
    n = min(p.numel() for p in per)
    return torch.stack([p[:n] for p in per])


def _layers(dims: int) -> tuple[nn.Module, nn.Module]:
    """A 1-channel k4 s2 deconvolution and a nearest k3 resize-convolution, no bias."""
    from checkerscope.nn import ResizeConv1d, ResizeConv2d

    deconv = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d}[dims](1, 1, 4, 2, 1, bias=False)
    resize = {1: ResizeConv1d, 2: ResizeConv2d}[dims](1, 1, 3, mode="nearest", bias=False)
    return deconv.double(), resize.double()


def _tying(cfg: C.ArithmeticConfig, seed: int) -> dict[str, Any]:
    from checkerscope.analysis import operator_matrix, parameter_tying, phase_imbalance

    gen = torch.Generator().manual_seed(seed)
    numbers: dict[str, Any] = {}
    for dims in (1, 2):
        deconv, resize = _layers(dims)
        imbalance: dict[str, list[float]] = {"deconv": [], "resize_conv": []}
        mismatch = 0.0  # phase responses vs operator-matrix row sums (1-D)
        resize_spread = 0.0  # how unequal resize-conv's row sums are, over every row
        for draw in range(cfg.weight_draws):
            with torch.no_grad():
                for layer in (deconv, resize):
                    layer.weight.copy_(torch.randn(layer.weight.shape, generator=gen))
            imbalance["deconv"].append(phase_imbalance(deconv).imbalance)
            imbalance["resize_conv"].append(phase_imbalance(resize).imbalance)
            if dims == 1 and draw < cfg.matrix_checks:
                for name, layer in (("deconv", deconv), ("resize_conv", resize)):
                    m = operator_matrix(layer, cfg.matrix_size)
                    sums = _by_phase(m, 2, margin=4)
                    response = phase_imbalance(layer).response[0]
                    mismatch = max(mismatch, float((sums - response[:, None]).abs().max()))
                    if name == "resize_conv":
                        row_sums = m.sum(1)
                        resize_spread = max(resize_spread, float(row_sums.max() - row_sums.min()))
        entry: dict[str, Any] = {
            "imbalance_deconv_min": min(imbalance["deconv"]),
            "imbalance_deconv_mean": sum(imbalance["deconv"]) / len(imbalance["deconv"]),
            "imbalance_resize_conv_max": max(imbalance["resize_conv"]),
        }
        if dims == 1:
            entry["phase_vs_row_sums_max_difference"] = mismatch
            entry["resize_conv_row_sum_spread"] = resize_spread
            for name, layer in (("deconv", deconv), ("resize_conv", resize)):
                t = parameter_tying(layer, cfg.matrix_size)
                interior = t.params_per_row[4:-4]
                entry[name] = {
                    "parameters": t.parameters,
                    "free_parameters": t.free_parameters,
                    "distinct_entries": t.distinct_entries,
                    "tied": t.tied,
                    "weights_per_output": sorted(set(interior.tolist())),
                    "max_weights_per_entry": int(t.params_per_entry.max()),
                }
            # The matrices shown: one draw, fixed by the seed.
            with torch.no_grad():
                for layer in (deconv, resize):
                    layer.weight.copy_(torch.randn(layer.weight.shape, generator=gen))
            entry["matrices"] = {
                "deconv": operator_matrix(deconv, cfg.matrix_size),
                "resize_conv": operator_matrix(resize, cfg.matrix_size),
            }
        numbers[f"{dims}d"] = entry
    return numbers


def run(ctx: Context) -> ExperimentResult:
    from checkerscope.analysis import overlap

    cfg: C.ArithmeticConfig = ctx.config
    with ctx.progress(4, "arithmetic") as bar:
        grid = _grid(cfg)
        bar.advance()
        stacks = _stacks(cfg)
        bar.advance()
        stride1 = _stride1(cfg)
        bar.advance()
        tying = _tying(cfg, ctx.seed)
        bar.advance()
    _decide(ctx, cfg, grid, stacks, stride1, tying)

    matrices = tying["1d"]["matrices"]
    stack_counts = {f"{d} x k3 s2": overlap([(3, 2)] * d, 8).tolist() for d in map(int, stacks)}
    figures = {
        "bars": overlap_bars(
            {(r["kernel_size"], r["stride"]): r["pattern"] for r in grid}, periods_shown=3
        ),
        "ratios": ratio_maps(
            cfg.kernel_sizes,
            cfg.strides,
            {(r["kernel_size"], r["stride"]): r["ratio_1d"] for r in grid},
            {(r["kernel_size"], r["stride"]): r["ratio_2d"] for r in grid},
        ),
        "maps_2d": overlap_maps(
            {
                f"k{r['kernel_size']} s{r['stride']}": r["pattern_2d"]
                for r in grid
                if r["stride"] == 2 and r["kernel_size"] in (3, 4, 5)
            }
            | {f"{d} x k3 s2": overlap([(3, 2)] * d, (8, 8)).tolist() for d in (2,)},
        ),
        "stacks": stack_figure(stack_counts, stride1),
        "matrices": operator_matrix_figure(
            matrices["deconv"],
            matrices["resize_conv"],
            ("deconv k4 s2 (each entry its own weight)", "nearest resize-conv k3 (tied)"),
        ),
    }
    for r in grid:
        del r["pattern_2d"]
    numbers = {"grid": grid, "stacks": stacks, "stride1": stride1, "weight_tying": tying}
    captions = {
        "bars": "How many input paths reach each output of one transposed convolution (exact "
        "counts, three periods). Red panels are uneven: exactly those whose stride does not "
        "divide the kernel size (k3 s2: 2, 1, 2, 1...).",
        "ratios": "Max/min overlap over the grid of kernel sizes and strides: 1 (even) wherever "
        "the stride divides the kernel; the 2-D map is the 1-D map squared (k3 s2: 2 -> 4). "
        "'gap': some outputs get no input at all.",
        "maps_2d": "2-D overlap counts (bright: many paths): the two axes multiply into a "
        "checkerboard for k3 and k5, flat for k4; two stacked k3 s2 layers paint it at two "
        "periods.",
        "stacks": "Left: stacked k3 s2 layers compound the unevenness at periods 2, 4, 8. Right: "
        "a stride-1 last layer of size k removes the periods that divide k (amplitude 0) and "
        "shrinks the others.",
        "matrices": "The two layers as matrices (one random weight draw; red positive, blue "
        "negative): the deconvolution gives each output window its own weights, nearest "
        "resize-convolution repeats (ties) them, so every output row sums all the weights.",
    }
    return ExperimentResult(numbers, figures, captions)


def _decide(
    ctx: Context,
    cfg: C.ArithmeticConfig,
    grid: list[dict[str, Any]],
    stacks: dict[str, Any],
    stride1: dict[str, Any],
    tying: dict[str, Any],
) -> None:
    by_spec = {(r["kernel_size"], r["stride"]): r for r in grid}
    rule_broken = [(r["kernel_size"], r["stride"]) for r in grid if r["uneven"] == r["divisible"]]
    brute_1d = [
        (r["kernel_size"], r["stride"])
        for r in grid
        if not _same(r["ratio_1d"], r["brute_ratio_1d"])
    ]
    k3, k4 = by_spec.get((3, 2)), by_spec.get((4, 2))
    ctx.decide(
        OVERLAP_UNEVEN_1D.id,
        checks={
            "uneven exactly when the stride does not divide the kernel size": not rule_broken,
            "brute-force conv_transpose counts agree": not brute_1d,
            "k3 s2 max/min is 2": k3 is not None and k3["ratio_1d"] == 2.0,
            "k4 s2 max/min is 1": k4 is not None and k4["ratio_1d"] == 1.0,
        },
        effect=math.nan if k3 is None else k3["ratio_1d"],
        evidence={
            "kernel_sizes": list(cfg.kernel_sizes),
            "strides": list(cfg.strides),
            "cells": len(grid),
            "uneven_cells": sum(r["uneven"] for r in grid),
            "cells_with_gaps": [(r["kernel_size"], r["stride"]) for r in grid if r["gaps"]],
            "rule_violations": rule_broken,
            "brute_force_disagreements": brute_1d,
            "k3_s2_ratio": None if k3 is None else k3["ratio_1d"],
            "k4_s2_ratio": None if k4 is None else k4["ratio_1d"],
            "k3_s2_pattern": None if k3 is None else k3["pattern"],
        },
    )

    not_squared = [
        (r["kernel_size"], r["stride"])
        for r in grid
        if not _same(r["ratio_2d"], r["ratio_1d"] ** 2)
    ]
    brute_2d = [
        (r["kernel_size"], r["stride"])
        for r in grid
        if not _same(r["ratio_2d"], r["brute_ratio_2d"])
    ]
    ctx.decide(
        OVERLAP_2D_SQUARED.id,
        checks={
            "2-D ratio is the 1-D ratio squared in every cell": not not_squared,
            "brute-force 2-D conv_transpose counts agree": not brute_2d,
        },
        effect=math.nan if k3 is None else k3["ratio_2d"],
        evidence={
            "cells": len(grid),
            "not_squared": not_squared,
            "brute_force_disagreements": brute_2d,
            "k3_s2_ratio_1d": None if k3 is None else k3["ratio_1d"],
            "k3_s2_ratio_2d": None if k3 is None else k3["ratio_2d"],
            "ratios_2d": {f"k{k}_s{s}": r["ratio_2d"] for (k, s), r in by_spec.items()},
        },
    )

    single = stacks.get("1")
    deeper = {d: st for d, st in stacks.items() if int(d) >= 2}
    deepest = max(stacks, key=int, default="0")
    ctx.decide(
        OVERLAP_STACK_COMPOUNDS.id,
        checks={
            "one layer and deeper stacks were counted": single is not None and bool(deeper),
            **{
                f"{d} layers: uneven at periods 2 to {2 ** int(d)}": set(st["uneven_periods"])
                >= {2**i for i in range(1, int(d) + 1)}
                for d, st in deeper.items()
            },
            **{
                f"{d} layers: max/min above one layer's": single is not None
                and st["ratio"] > single["ratio"]
                for d, st in deeper.items()
            },
        },
        effect=stacks[deepest]["ratio"] if stacks else math.nan,
        evidence={
            d: {
                "uneven_periods": st["uneven_periods"],
                "ratio": st["ratio"],
                "pattern": st["pattern"],
            }
            for d, st in stacks.items()
        },
    )

    violations = []
    removed_amplitudes = []  # periods that divide the stride-1 kernel: the claim says 0
    for depth, entry in stride1.items():
        base = entry["rows"][0]["amplitudes"] if entry["rows"][0]["kernel_size"] == 1 else None
        for row in entry["rows"]:
            k1 = row["kernel_size"]
            if k1 == 1:
                continue
            for p, amp in row["amplitudes"].items():
                removed = k1 % int(p) == 0
                if removed:
                    removed_amplitudes.append(amp)
                ok = amp <= EXACT if removed else base is not None and 0 < amp < base[p]
                if not ok:
                    violations.append({"stack": int(depth), "kernel_size": k1, "period": int(p)})
    ctx.decide(
        STRIDE1_DAMPENS.id,
        checks={
            "every stack was measured alone (stride-1 size 1)": bool(stride1)
            and all(e["rows"][0]["kernel_size"] == 1 for e in stride1.values()),
            "periods dividing the kernel removed, the others reduced": not violations,
        },
        effect=max(removed_amplitudes, default=math.nan),
        evidence={
            "violations": violations,
            "amplitudes": {
                d: {str(r["kernel_size"]): r["amplitudes"] for r in e["rows"]}
                for d, e in stride1.items()
            },
        },
    )

    one, two = tying["1d"], tying["2d"]
    deconv, resize = one["deconv"], one["resize_conv"]
    ctx.decide(
        MATRIX_WEIGHT_TYING.id,
        checks={
            "resize-conv phase imbalance 0 in 1-D": one["imbalance_resize_conv_max"] <= EXACT,
            "resize-conv phase imbalance 0 in 2-D": two["imbalance_resize_conv_max"] <= EXACT,
            "deconv phase imbalance > 0 in 1-D": one["imbalance_deconv_min"] > EXACT,
            "deconv phase imbalance > 0 in 2-D": two["imbalance_deconv_min"] > EXACT,
            "phase responses equal the matrices' row sums": one["phase_vs_row_sums_max_difference"]
            <= 1e-9,
            "resize-conv rows all sum the same": one["resize_conv_row_sum_spread"] <= 1e-9,
            "resize-conv ties its weights": bool(resize["tied"]),
            "deconv does not tie its weights": not deconv["tied"],
        },
        effect=min(one["imbalance_deconv_min"], two["imbalance_deconv_min"])
        - max(one["imbalance_resize_conv_max"], two["imbalance_resize_conv_max"]),
        evidence={
            "weight_draws": cfg.weight_draws,
            "draws_checked_against_matrices": min(cfg.matrix_checks, cfg.weight_draws),
            "deconv_1d": deconv,
            "resize_conv_1d": resize,
            "imbalance_1d": {k: v for k, v in one.items() if k.startswith("imbalance")},
            "imbalance_2d": {k: v for k, v in two.items() if k.startswith("imbalance")},
            "phase_vs_row_sums_max_difference": one["phase_vs_row_sums_max_difference"],
            "resize_conv_row_sum_spread": one["resize_conv_row_sum_spread"],
        },
    )


EXPERIMENT = Experiment(
    id="arithmetic",
    title="Overlap and operator arithmetic of deconvolution and resize-convolution",
    claims=CLAIMS,
    configs=C.ARITHMETIC,
    run=run,
    budget=C.BUDGETS["arithmetic"],
)
