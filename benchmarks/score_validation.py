"""Validate the checkerboard score on the planted test set and print the figures for the README.

Clean crops of scikit-image's colour photographs against the same crops with planted periodic
patterns (periods 2 and 4, amplitudes 1-8%), random-init DCGAN generators by upsampler, the
whole photographs and their JPEG round trips; see ``checkerscope.analysis.validation``.
Writes the numbers as JSON beside the printed tables.

    python benchmarks/score_validation.py [--crops 64] [--size 256] [--generated 64] [--out F]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from checkerscope.analysis.score import THRESHOLD
from checkerscope.analysis.validation import AMPLITUDES, UPSAMPLERS, validate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crops", type=int, default=64)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--generated", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="score_validation.json")
    args = parser.parse_args()
    start = time.perf_counter()
    r = validate(args.crops, args.size, args.generated, args.seed)
    elapsed = time.perf_counter() - start

    def stats(s: torch.Tensor) -> str:
        q = torch.quantile(s, torch.tensor([0.0, 0.5, 1.0]))
        return f"{s.mean():6.1f} | {q[0]:6.1f} | {q[1]:6.1f} | {q[2]:6.1f}"

    print(f"settings: {r.settings}, threshold {THRESHOLD} dB, {elapsed:.0f} s\n")
    print("| set | n | mean dB | min | median | max | above threshold |")
    print("|---|---|---|---|---|---|---|")
    print(f"| clean crops | {len(r.clean)} | {stats(r.clean)} | {(r.clean > THRESHOLD).sum()} |")
    for (kind, period, a), s in r.planted.items():
        name = f"planted {kind}, p={period}, {a:.0%}"
        print(f"| {name} | {len(s)} | {stats(s)} | {(s > THRESHOLD).sum()} |")
    for up, s in r.generators.items():
        print(f"| random-init DCGAN, {up} | {len(s)} | {stats(s)} | {(s > THRESHOLD).sum()} |")
    print()
    print(f"ROC AUC planted vs clean, all amplitudes: {r.auc_planted():.4f}")
    for a in AMPLITUDES:
        print(f"ROC AUC planted vs clean at {a:.0%}: {r.auc_planted(a):.4f}")
    for up in UPSAMPLERS[:-1]:
        print(f"ROC AUC {up} vs resize_conv outputs: {r.auc_generator(up):.4f}")
    means = r.mean_by_amplitude()
    print(f"per-image scores rising at every amplitude step: {r.monotone_fraction():.1%}")
    for kind in ("checkerboard", "random"):
        for p in (2, 4):
            row = ", ".join(f"{means[kind, p, a]:.1f}" for a in AMPLITUDES)
            print(f"mean dB by amplitude {kind} p={p}: {row}")
    qualities = " | ".join(f"JPEG q{q}" for q in r.settings["qualities"])
    print(f"\n| photograph | whole | {qualities} |")
    print("|---|---|" + "---|" * len(r.settings["qualities"]))
    for name, score in r.photographs.items():
        jpegs = " | ".join(f"{r.jpeg[name, q]:.1f}" for q in r.settings["qualities"])
        print(f"| {name} | {score:.1f} | {jpegs} |")
    worst_mean = max(r.jpeg_mean.values())
    print(f"\nJPEG max (luma): {max(r.jpeg.values()):.1f} dB; with color='mean': {worst_mean:.1f}")
    with open(args.out, "w") as f:
        json.dump(
            {
                "settings": r.settings,
                "threshold_db": THRESHOLD,
                "clean": r.clean.tolist(),
                "planted": {f"{k}/p{p}/{a}": s.tolist() for (k, p, a), s in r.planted.items()},
                "generators": {k: s.tolist() for k, s in r.generators.items()},
                "photographs": r.photographs,
                "jpeg": {f"{k}/q{q}": s for (k, q), s in r.jpeg.items()},
                "jpeg_mean": {f"{k}/q{q}": s for (k, q), s in r.jpeg_mean.items()},
                "auc_planted": r.auc_planted(),
                "auc_generators": {up: r.auc_generator(up) for up in UPSAMPLERS[:-1]},
                "monotone_fraction": r.monotone_fraction(),
            },
            f,
            indent=1,
        )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
