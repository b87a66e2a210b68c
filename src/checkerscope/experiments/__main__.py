"""``python -m checkerscope.experiments``: ``checkerscope reproduce`` for ``torchrun -m``.

Example:
    torchrun --standalone --nproc_per_node 2 -m checkerscope.experiments \\
        --scale quick --only gan_training --out runs/ddp
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from checkerscope.experiments import ExperimentError, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m checkerscope.experiments")
    parser.add_argument("--scale", default="default", choices=["quick", "default", "full"])
    parser.add_argument("--out", default="results")
    parser.add_argument("--only", default=None, help="comma-separated experiment ids")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--data", default=None, help="a folder of images")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument(
        "--override", default=None, help='JSON: {"experiment id": {"config field": value}}'
    )
    args = parser.parse_args(argv)
    try:
        results = run(
            scale=args.scale,
            out=args.out,
            only=args.only.split(",") if args.only else None,
            device=args.device,
            data=args.data,
            resume=args.resume,
            seed=args.seed,
            show_progress=not args.no_progress,
            overrides=json.loads(args.override) if args.override else None,
        )
    except (ExperimentError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if os.environ.get("RANK", "0") == "0":
        held = sum(c["holds"] for c in results["claims"])
        print(f"{held}/{len(results['claims'])} claims hold; results in {args.out}/results.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
