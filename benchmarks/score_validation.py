"""Validate the checkerboard score on the held-out set and print the README's table.

Builds ``checkerscope.analysis.validation.build_classes(split)`` (clean content, content periodic
by design, artifacts; see that module), adds generators trained here (x4 super-resolution nets
whose two upsamplers are transposed, sub-pixel or resize convolutions, trained for
``--steps`` steps on crops of the development photographs and run on held-out ones), scores every
image with ``checkerboard_score`` at the fixed threshold and reports, per class, the fraction
above it (false positives for clean content, detections for artifacts), the 95th percentile and
the maximum, and the ROC AUC of artifacts against all clean images. The threshold was fixed on
``--split dev``; the default split is the held-out one. One torch thread.

    python benchmarks/score_validation.py [--split held_out] [--n 60] [--steps 300]
        [--markdown score_validation.md] [--out score_validation.json]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time

import torch
import torch.nn.functional as F
from torch import nn

from checkerscope.analysis import image_classes as I
from checkerscope.analysis.score import THRESHOLD, checkerboard_score
from checkerscope.analysis.validation import (
    SPLITS,
    ClassResult,
    ImageClass,
    build_classes,
    summarize,
)
from checkerscope.nn import upsampler

TRAINED: tuple[tuple[str, str], ...] = (
    ("deconv", "artifact"),
    ("subpixel", "artifact"),
    ("resize_conv", "clean"),
)
"""Upsamplers of the trained generators, and the kind of their outputs."""


def super_resolver(kind: str, width: int = 32) -> nn.Module:
    """A x4 super-resolution net: a convolution, two x2 ``kind`` upsamplers, a convolution."""
    return nn.Sequential(
        nn.Conv2d(3, width, 3, padding=1),
        nn.ReLU(),
        upsampler(kind, width, width),
        nn.ReLU(),
        upsampler(kind, width, width),
        nn.ReLU(),
        nn.Conv2d(width, 3, 3, padding=1),
    )


def photo_crops(split: str, n: int, size: int, gen: torch.Generator) -> torch.Tensor:
    """``n`` RGB crops (n, 3, size, size) of the photographs of ``split`` (grey ones repeated)."""
    pool = [I.bundled(name).expand(3, -1, -1) for name in SPLITS[split].photos]
    pool = [p for p in pool if min(p.shape[-2:]) >= size]
    return torch.stack(
        [I.random_crop(pool[I.integer(gen, 0, len(pool) - 1)], size, size, gen) for _ in range(n)]
    )


def trained_outputs(
    kind: str, split: str, n: int, steps: int, seed: int
) -> tuple[torch.Tensor, ...]:
    """Outputs (3, 128, 128) of a ``kind`` super-resolver trained for ``steps`` Adam steps (batch
    8, L1) on 64-pixel crops of the development photographs, run on 128-pixel crops of the
    photographs of ``split``."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = super_resolver(kind)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    train = photo_crops("dev", 512, 64, gen)
    for _ in range(steps):
        batch = train[torch.randint(len(train), (8,), generator=gen)]
        loss = F.l1_loss(model(F.avg_pool2d(batch, 4)), batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    test = photo_crops(split, n, 128, gen)
    with torch.no_grad():
        return tuple(I.quantize(model(F.avg_pool2d(test, 4))))


def scores_of(cls: ImageClass) -> torch.Tensor:
    return torch.cat([checkerboard_score(x, color=cls.color) for x in cls.images])


def markdown(rows: list[ClassResult], auc: float, command: str, settings: dict) -> str:
    """The README block: the command, one table row per class, and the targets."""

    def rate(r: ClassResult) -> str:
        return f"{round(r.above * r.n)}/{r.n} ({r.above:.0%})"

    fixed = (
        "fixed on this split"
        if settings["split"] == "dev"
        else "fixed on the `dev` split before this one was scored"
    )
    lines = [
        f"`{command}` (split `{settings['split']}`, threshold {THRESHOLD:g} dB {fixed}; "
        f"{settings['seconds']:.0f} s, one thread):",
        "",
        "| class | kind | above threshold | 95th pct. dB | max dB | AUC vs clean |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        auc_cell = "" if r.auc is None else f"{r.auc:.3f}"
        lines.append(
            f"| {r.name} | {r.kind} | {rate(r)} | {r.p95:.1f} | {r.max:.1f} | {auc_cell} |"
        )
    clean = [r for r in rows if r.kind == "clean"]
    worst = max(clean, key=lambda r: r.above)
    # Every planted pattern at 1% of the range or more: whole images, small ones, and a pattern
    # on a quarter of the image.
    planted = [
        r
        for r in rows
        if r.name.startswith(("planted period", "pattern on a quarter")) and "0.5%" not in r.name
    ]
    weakest = min(planted, key=lambda r: r.above)
    deconv = next(r for r in rows if r.name == "deconv generator, random init")
    grad = next(r for r in rows if r.name == "input gradient, stride-1 models")
    targets = [
        ("most flagged clean class", worst.above, worst.above <= 0.02, "<= 2%", worst.name),
        ("random-init deconv generators found", deconv.above, deconv.above >= 0.95, ">= 95%", ""),
        ("planted at >= 1%, weakest class", weakest.above, weakest.above >= 0.95, ">= 95%",
         weakest.name),
    ]  # fmt: skip
    lines += ["", "| target | measured | holds |", "|---|---|---|"]
    for what, value, holds, goal, where in targets:
        detail = f" ({where})" if where else ""
        lines.append(f"| {what} {goal} | {value:.1%}{detail} | {'yes' if holds else 'no'} |")
    lines.append(
        f"| ROC AUC, all artifacts vs all clean, >= 0.98 | {auc:.4f} | "
        f"{'yes' if auc >= 0.98 else 'no'} |"
    )
    holds = grad.max < THRESHOLD
    lines.append(
        f"| stride-1 model gradients below {THRESHOLD:g} dB | max {grad.max:.1f} dB | "
        f"{'yes' if holds else 'no'} |"
    )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="held_out", choices=tuple(SPLITS))
    parser.add_argument("--n", type=int, default=60, help="images per class")
    parser.add_argument("--steps", type=int, default=300, help="training steps per generator")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--markdown", help="write the README block here")
    parser.add_argument("--out", default="score_validation.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    classes = build_classes(args.split, args.n, args.seed)
    for kind, what in TRAINED:
        seed = SPLITS[args.split].seed + args.seed
        images = trained_outputs(kind, args.split, args.n, args.steps, seed)
        classes.append(ImageClass(f"{kind} super-resolver, trained", what, images))
    scores = {c.name: scores_of(c) for c in classes}
    rows, auc = summarize(scores, {c.name: c.kind for c in classes}, THRESHOLD)
    seconds = time.perf_counter() - start
    settings = {"split": args.split, "n": args.n, "steps": args.steps, "seed": args.seed,
                "seconds": seconds, "threshold_db": THRESHOLD, "torch": torch.__version__,
                "machine": platform.machine()}  # fmt: skip
    command = (
        f"python benchmarks/score_validation.py --split {args.split} --n {args.n} "
        f"--steps {args.steps} --seed {args.seed}"
    )
    text = markdown(rows, auc, command, settings)
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)
    with open(args.out, "w") as f:
        json.dump(
            {
                "settings": settings,
                "auc": auc,
                "classes": [r.__dict__ for r in rows],
                "scores": {
                    k: [None if math.isnan(s) else s for s in v.tolist()] for k, v in scores.items()
                },
            },
            f,
            indent=1,
        )
    print(f"wrote {args.out}" + (f" and {args.markdown}" if args.markdown else ""))


if __name__ == "__main__":
    main()
