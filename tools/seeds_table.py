"""Which claims hold at other base seeds and scales: one column per `checkerscope reproduce` run.

The README's claims table comes from one run (scale `default`, base seed 0). A claim that holds
there may hold only for that draw, so this script puts several runs side by side, each named
by its own results.json (scale and base seed), and writes the table as markdown::

    python tools/seeds_table.py runs/demo /tmp/d1 /tmp/q0 /tmp/q1 /tmp/q2 \
        --markdown docs/generated/seeds.md

Each argument is a run folder (or its results.json). Runs must come from the same claims;
a claim a run lacks is shown as "-". Nothing is re-computed: each cell is the run's verdict.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def load(path: Path) -> dict[str, Any]:
    """A run's results.json (``path`` is the file or its folder)."""
    file = path / "results.json" if path.is_dir() else path
    if not file.is_file():
        raise SystemExit(f"Error: {file} is not a results.json")
    return json.loads(file.read_text())


def label(run: dict[str, Any]) -> str:
    """``"default, seed 0"`` from the run's recorded settings."""
    env = run["environment"]
    return f"{env['scale']}, seed {env['seeds']['base']}"


def table(runs: list[dict[str, Any]]) -> str:
    """Markdown: one row per claim (in the first run's order), one column per run."""
    ids: list[str] = []
    for run in runs:
        ids += [c["id"] for c in run["claims"] if c["id"] not in ids]
    verdicts = [{c["id"]: c["holds"] for c in run["claims"]} for run in runs]
    head = "| claim | " + " | ".join(label(r) for r in runs) + " | runs where it holds |"
    lines = [head, "|---" * (len(runs) + 2) + "|"]
    for claim in ids:
        cells = [v.get(claim) for v in verdicts]
        shown = ["-" if c is None else "holds" if c else "**does not hold**" for c in cells]
        held = sum(1 for c in cells if c)
        lines.append(f"| `{claim}` | " + " | ".join(shown) + f" | {held} of {len(runs)} |")
    totals = [f"{sum(v.values())} of {len(v)}" for v in verdicts]
    lines.append("| **claims holding** | " + " | ".join(totals) + " | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders or their results.json")
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = parser.parse_args()
    runs = [load(p) for p in args.runs]
    commands = ", ".join(
        f"`checkerscope reproduce --scale {r['environment']['scale']} "
        f"--seed {r['environment']['seeds']['base']}`"
        for r in runs
    )
    text = (
        f"`python tools/seeds_table.py RUN ...` over the runs of {commands} (a cell is that "
        "run's verdict, decided by the rule each claim declared before the run):\n\n"
        + table(runs)
        + "\n"
    )
    print(text)
    if args.markdown:
        args.markdown.write_text(text)


if __name__ == "__main__":
    main()
