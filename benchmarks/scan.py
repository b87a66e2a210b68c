"""Throughput of ``checkerscope scan`` against decoding alone, on the same 1,000 PNGs, in one run.

Generates ``--count`` 256x256 8-bit RGB PNGs (crops of scikit-image's photographs, a tenth with
a planted checkerboard) in a temporary folder, then times, with 1 and 2 worker processes,
decoding alone and decoding plus scoring (what ``scan`` does), both through the same process
pool (``checkerscope.scan.map_files``), alternating so that the machine's load falls on both.
Each configuration's best of ``--repeats`` rounds is reported, and whether the targets hold:
scoring adds at most 50% to the decode time on one worker, and 2 workers beat 1. On a shared
machine wall-clock times swing with the load, so the workers' CPU time is reported beside them.

    python benchmarks/scan.py [--count 1000] [--repeats 3] [--out scan_benchmark.json]
        [--markdown scan_benchmark.md]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from checkerscope.analysis.image_classes import pattern
from checkerscope.data import embedded_photographs, random_crops
from checkerscope.images import read_image
from checkerscope.scan import MAX_PIXELS, map_files, score_file


def decode_only(path: str) -> int:
    """What ``scan`` does before scoring: open, decode, convert to luma; returns the height."""
    return read_image(path, MAX_PIXELS, luma=True)[1]


def make_images(folder: Path, count: int) -> list[str]:
    crops = random_crops(embedded_photographs(), count, 256, seed=0)
    checker = pattern("checkerboard", 2, 3, 256, 256, 0)
    paths = []
    for i, crop in enumerate(crops):
        x = crop + 0.03 * checker if i % 10 == 0 else crop
        array = (x.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        paths.append(str(folder / f"{i:05d}.png"))
        Image.fromarray(array).save(paths[-1])
    return paths


def timed(fn, paths: list[str], workers: int) -> tuple[float, float]:
    """Wall-clock seconds, and CPU seconds used by the worker processes (reaped at pool exit)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    results = list(map_files(fn, paths, workers=workers))
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert len(results) == len(paths)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return elapsed, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="scan_benchmark.json")
    parser.add_argument("--markdown", help="write the README block here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_images(Path(tmp), args.count)
        size_mb = sum(os.path.getsize(p) for p in paths) / 2**20
        print(f"{len(paths)} PNGs, 256x256 RGB, {size_mb:.0f} MB; torch {torch.__version__}")
        jobs = {"decode": decode_only, "scan": score_file}
        best: dict[tuple[str, int], float] = {}
        cpu: dict[tuple[str, int], float] = {}
        for _ in range(args.repeats):
            for workers in (1, 2):
                for name, fn in jobs.items():
                    t, c = timed(fn, paths, workers)
                    best[name, workers] = min(best.get((name, workers), float("inf")), t)
                    cpu[name, workers] = min(cpu.get((name, workers), float("inf")), c)
    load = os.getloadavg()[0]
    lines = [
        f"`python benchmarks/scan.py --count {args.count} --repeats {args.repeats}` "
        f"({args.count} generated 256x256 PNGs, decode only against decode + score through "
        f"the same worker pool, interleaved, best of {args.repeats}; {os.cpu_count()} CPUs, "
        f"load average {load:.1f} at the end):",
        "",
        "| workers | decode only (img/s) | scan (img/s) | scoring adds, wall "
        "| CPU ms/img decode | CPU ms/img scan | scoring adds, CPU |",
        "|---|---|---|---|---|---|---|",
    ]
    for workers in (1, 2):
        decode, scan = best["decode", workers], best["scan", workers]
        c_dec, c_scan = cpu["decode", workers], cpu["scan", workers]
        lines.append(
            f"| {workers} | {args.count / decode:.0f} | {args.count / scan:.0f} "
            f"| {scan / decode - 1:+.0%} | {1e3 * c_dec / args.count:.2f} "
            f"| {1e3 * c_scan / args.count:.2f} | {c_scan / c_dec - 1:+.0%} |"
        )
    added = best["scan", 1] / best["decode", 1] - 1
    added_cpu = cpu["scan", 1] / cpu["decode", 1] - 1
    speedup = best["scan", 1] / best["scan", 2]
    lines += [
        "",
        f"Target, scoring adds at most 50% on one worker: {added:+.0%} wall "
        f"({'holds' if added <= 0.5 else 'fails'}), {added_cpu:+.0%} in worker CPU time "
        f"({'holds' if added_cpu <= 0.5 else 'fails'}); throughput grows with workers: "
        f"x{speedup:.2f} ({'holds' if speedup > 1 else 'fails'}).",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)
    with open(args.out, "w") as f:
        json.dump(
            {
                "count": args.count,
                "repeats": args.repeats,
                "cpus": os.cpu_count(),
                "best_seconds": {f"{n}/{w}": t for (n, w), t in best.items()},
                "worker_cpu_seconds": {f"{n}/{w}": t for (n, w), t in cpu.items()},
                "scoring_adds": added,
                "scoring_adds_cpu": added_cpu,
                "speedup_2_workers": speedup,
            },
            f,
            indent=1,
        )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
