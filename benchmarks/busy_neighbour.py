"""Wall time of a fixed small `checkerscope reproduce` with and without one busy neighbour.

Issue 15 asks that one other busy process on the machine slow the study by at most 2.5x. This
script runs the same small workload (quick scale, a few experiments) alone and beside one busy
process, interleaved round by round so both see the same machine, and prints the ratio of the
median wall times. Configurations:

* ``auto``: ``--jobs`` left to its default (the idle cores when the run starts);
* ``jobs=N``: the CPU count, whatever the load;

and, for the record, a plain torch loop (small convolutions, forward and backward) with all
CPUs as torch threads, OMP_WAIT_POLICY unset and PASSIVE: how threads that spin (the old
single-process runner) fare beside a neighbour.

    python benchmarks/busy_neighbour.py [--rounds 3] [--neighbour spin|matmul] [--markdown FILE]

The neighbour is ``python -c 'while True: pass'`` (spin) or a one-thread torch matmul loop.
The machine's load before the run is printed: on a shared machine "idle" is not idle.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ONLY = "arithmetic,init_artifacts,strong_colors,gradients"
NEIGHBOURS = {
    "spin": "while True: pass",
    "matmul": "import torch\ntorch.set_num_threads(1)\na = torch.randn(256, 256)\n"
    "while True: a = (a @ a).tanh()",
}
TORCH_LOOP = """
import time, torch
torch.set_num_threads({threads})
conv = torch.nn.Conv2d(16, 16, 3, padding=1)
x = torch.randn(8, 16, 32, 32)
start = time.perf_counter()
for _ in range(300):
    conv(x).square().mean().backward()
print(time.perf_counter() - start)
"""


@contextmanager
def neighbour(kind: str | None):
    """One busy process for the duration of the block (none when ``kind`` is None)."""
    if kind is None:
        yield
        return
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "-c", NEIGHBOURS[kind]], env=env)
    try:
        time.sleep(0.5)  # let it start spinning
        yield
    finally:
        process.kill()
        process.wait()


def reproduce(jobs: int | None) -> float:
    """Wall seconds of the fixed workload, as `checkerscope reproduce` runs it."""
    with tempfile.TemporaryDirectory(prefix="busy-neighbour-") as out:
        command = [sys.executable, "-m", "checkerscope", "reproduce", "--scale", "quick"]
        command += ["--only", ONLY, "--out", out, "--no-progress"]
        if jobs is not None:
            command += ["--jobs", str(jobs)]
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        seconds = time.perf_counter() - start
        jobs_used = json.loads((Path(out) / "results.json").read_text())["environment"]["jobs"]
    print(f"    reproduce --jobs {jobs_used}: {seconds:.1f} s", flush=True)
    return seconds


def torch_loop(threads: int, policy: str | None) -> float:
    """Seconds of a small conv loop with ``threads`` torch threads and OMP_WAIT_POLICY."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
    if policy:
        env["OMP_WAIT_POLICY"] = policy
    done = subprocess.run(
        [sys.executable, "-c", TORCH_LOOP.format(threads=threads)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    seconds = float(done.stdout.strip())
    print(f"    torch loop, {threads} threads, wait policy {policy}: {seconds:.1f} s", flush=True)
    return seconds


def measure(
    configs: dict[str, Callable[[], float]], rounds: int, kind: str
) -> dict[str, dict[str, list[float]]]:
    times: dict[str, dict[str, list[float]]] = {c: {"idle": [], "busy": []} for c in configs}
    for r in range(rounds):
        print(f"round {r + 1}/{rounds}", flush=True)
        for name, run in configs.items():
            for state, busy in (("idle", None), ("busy", kind)):
                with neighbour(busy):
                    times[name][state].append(run())
    return times


def markdown(rows: list[dict[str, Any]], header: str) -> str:
    lines = [
        header,
        "",
        "| configuration | alone (s) | beside one busy process (s) | ratio |",
        "|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['name']} | {row['idle']:.1f} | {row['busy']:.1f} | **{row['ratio']:.2f}x** |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--neighbour", choices=sorted(NEIGHBOURS), default="spin")
    parser.add_argument("--markdown", type=Path, help="Also write the table here (markdown).")
    args = parser.parse_args()

    from checkerscope.experiments.parallel import cpu_count

    cpus = cpu_count()
    load = os.getloadavg()
    print(f"{cpus} CPUs; load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    configs: dict[str, Callable[[], float]] = {
        "reproduce, --jobs default (idle cores)": lambda: reproduce(None),
        f"reproduce, --jobs {cpus}": lambda: reproduce(cpus),
        f"torch loop, {cpus} threads": lambda: torch_loop(cpus, None),
        f"torch loop, {cpus} threads, OMP_WAIT_POLICY=PASSIVE": lambda: torch_loop(cpus, "PASSIVE"),
        "torch loop, 1 thread": lambda: torch_loop(1, None),
    }
    times = measure(configs, args.rounds, args.neighbour)
    rows = []
    for name, t in times.items():
        idle, busy = statistics.median(t["idle"]), statistics.median(t["busy"])
        rows.append({"name": name, "idle": idle, "busy": busy, "ratio": busy / idle})
    header = (
        f"`python benchmarks/busy_neighbour.py --rounds {args.rounds} --neighbour "
        f"{args.neighbour}`: medians of {args.rounds} interleaved rounds on {cpus} CPUs "
        f"(load average {load[0]:.1f} before the run); workload `reproduce --scale quick "
        f"--only {ONLY}`."
    )
    table = markdown(rows, header)
    print(table)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(table)


if __name__ == "__main__":
    main()
