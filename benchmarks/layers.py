"""Speed and memory of the resize-convolution against the transposed convolution it replaces.

Forward + backward of ``ResizeConvNd`` (fused, reference and ``impl="auto"``) and of
``ConvTransposeNd(kernel 2s, stride s)``, as ratios measured side by side in one run:

* targets: nearest, k=3, s=2 in 1-D, 2-D and 3-D at three shapes each (the benchmark shape;
  larger batch and channels; larger images); fused/deconv time (target <= 1.05), reference/
  fused (target >= 2), fused/deconv peak memory (target <= 1.05);
* grid: kernel 3 and 5, scale 2 and 4, nearest and bilinear, 1-D to 3-D at batch 8 (1-D,
  2-D) or 1 (3-D), smaller than the targets' so that the reference at s=4, k=5 stays
  affordable: fused/deconv, reference/fused, auto/best (``impl="auto"`` against the faster of the
  two paths; the rule is ``checkerscope.functional.resize_conv.auto_impl``), peak memory.

Timing runs every layer of a case in one process, in rotating order, one fwd+bwd each per
round, so that the machine's load falls on all of them alike; a ratio is the median over
rounds of the two layers' times in the same round. With one thread it is the thread's CPU
time (``time.thread_time``), which other processes disturb less than the wall clock; with
more, wall time. "noise" is a second, identical ConvTransposeNd against the first: ratios
closer to 1 than it are not resolved. By default glibc is told to keep freed memory
(``--malloc retain``): otherwise the large tensors of each pass are returned to the system
and faulted back in, which adds more jitter than the differences measured here.
Peak memory on CPU is the growth of the peak resident set (VmHWM) over one fwd+bwd after a
first one (which also fills oneDNN's caches, once per process), each case in a fresh
subprocess; on CUDA, ``torch.cuda.max_memory_allocated``.

    python benchmarks/layers.py [--threads 1] [--rounds 11] [--device cpu|cuda]
                                [--dtype float32|bfloat16] [--tables targets,grid,sweep]
                                [--markdown FILE] [--quick]

``--device cuda`` times with CUDA synchronization (float32 or bfloat16, against cuDNN's
transposed convolution); it needs a GPU, and has not been run in this repository yet.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import scipy.optimize
import torch
from torch import nn

from checkerscope.functional.resize_conv import auto_impl
from checkerscope.functional.resize_conv_cost import (
    CHANNEL_BLOCK,
    SECONDS,
    Counts,
    fused_counts,
    reference_counts,
)
from checkerscope.nn import ResizeConv1d, ResizeConv2d, ResizeConv3d

FUSED_VS_DECONV_MAX = 1.05  # fused time (and peak memory) / ConvTransposeNd's
REFERENCE_VS_FUSED_MIN = 2.0  # reference time / fused time
RETAIN = {"MALLOC_MMAP_THRESHOLD_": str(32 * 2**20), "MALLOC_TRIM_THRESHOLD_": str(2**36)}

_RESIZE = {1: ResizeConv1d, 2: ResizeConv2d, 3: ResizeConv3d}
_DECONV = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}


@dataclass(frozen=True)
class Case:
    """One layer configuration and input shape (``size`` along every spatial axis)."""

    dims: int
    batch: int
    in_channels: int
    out_channels: int
    size: int
    kernel: int = 3
    scale: int = 2
    mode: str = "nearest"

    def describe(self) -> str:
        s = self.size
        return (
            f"{self.dims}-D, batch {self.batch}, {self.in_channels}->{self.out_channels} ch, "
            f"{s}->{self.scale * s}{' px' if self.dims == 2 else ''}"
        )

    def layers(self) -> dict[str, Callable[[], nn.Module]]:
        """Name -> constructor of every layer timed for this case."""
        c_in, c_out, s = self.in_channels, self.out_channels, self.scale

        def resize(impl: str) -> Callable[[], nn.Module]:
            return lambda: _RESIZE[self.dims](c_in, c_out, self.kernel, s, self.mode, impl=impl)

        def deconv() -> nn.Module:
            return _DECONV[self.dims](c_in, c_out, 2 * s, s, s // 2)

        return {
            "deconv": deconv,
            "fused": resize("fused"),
            "reference": resize("reference"),
            "auto": resize("auto"),
            "deconv again": deconv,
        }

    def input_shape(self) -> tuple[int, ...]:
        return (self.batch, self.in_channels, *(self.size,) * self.dims)

    def counts(self, block: int | None = None) -> dict[str, Counts]:
        """The cost model's counts of each path for this case (reflect padding; channels
        rounded up to ``block``, by default as the library counts them in this dimension)."""
        kernel, shape, c_out = (self.kernel,) * self.dims, self.input_shape(), self.out_channels
        block = CHANNEL_BLOCK[self.dims] if block is None else block
        return {
            "fused": fused_counts(kernel, self.scale, self.mode, "reflect", shape, c_out, block),
            "reference": reference_counts(kernel, self.scale, self.mode, shape, c_out, block),
        }

    def auto_choice(self, device: str) -> str:
        kernel = (self.kernel,) * self.dims
        return auto_impl(
            kernel,
            self.scale,
            self.mode,
            "reflect",
            self.input_shape(),
            self.out_channels,
            torch.device(device).type,
        )


def grid_shape(dims: int, quick: bool, batch_scale: int = 1) -> tuple[int, int, int, int]:
    """(batch, in, out, size) of the grid in ``dims`` dimensions (batch times ``batch_scale``)."""
    if quick:
        return shapes(quick, batch_scale)[dims][0][1]
    batch, c_in, c_out, size = {1: (8, 64, 32, 1024), 2: (8, 64, 32, 32), 3: (1, 32, 16, 12)}[dims]
    return batch * batch_scale, c_in, c_out, size


def shapes(
    quick: bool, batch_scale: int = 1
) -> dict[int, list[tuple[str, tuple[int, int, int, int]]]]:
    """Per dims: (label, (batch, in, out, size)); the first is the benchmark shape. Every batch
    is multiplied by ``batch_scale``."""
    if quick:
        return {d: [("quick", (2 * batch_scale, 8, 4, {1: 64, 2: 12, 3: 6}[d]))] for d in (1, 2, 3)}
    base = {
        1: [
            ("benchmark", (16, 128, 64, 1024)),
            ("batch and channels", (32, 256, 128, 1024)),
            ("long signals", (4, 64, 32, 16384)),
        ],
        2: [
            ("benchmark", (16, 128, 64, 32)),
            ("batch and channels", (32, 256, 128, 32)),
            ("128->256 px", (4, 64, 32, 128)),
        ],
        3: [
            ("benchmark", (2, 64, 32, 16)),
            ("batch and channels", (4, 128, 64, 16)),
            ("larger volumes", (1, 32, 16, 48)),
        ],
    }
    return {
        d: [(label, (b * batch_scale, *rest)) for label, (b, *rest) in labelled]
        for d, labelled in base.items()
    }


# ------------------------------------------------------------------------------ timing


def setup(
    make: Callable[[], nn.Module], case: Case, device: str, dtype: torch.dtype
) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """The layer, an input that wants its gradient, and the gradient to send back."""
    torch.manual_seed(0)
    layer = make().to(device=device, dtype=dtype)
    spatial = (case.size,) * case.dims
    x = torch.randn(case.batch, case.in_channels, *spatial, device=device, dtype=dtype)
    out = (case.batch, case.out_channels, *(case.scale * n for n in spatial))
    grad = torch.randn(out, device=device, dtype=dtype)
    return layer, x.requires_grad_(), grad


def step(layer: nn.Module, x: torch.Tensor, grad: torch.Tensor) -> None:
    """One forward and backward pass, gradients dropped (not accumulated) between calls."""
    layer.zero_grad(set_to_none=True)
    x.grad = None
    layer(x).backward(grad)


def clock(device: str) -> Callable[[], float]:
    if device.startswith("cuda"):

        def synced() -> float:
            torch.cuda.synchronize()
            return time.perf_counter()

        return synced
    return time.thread_time if torch.get_num_threads() == 1 else time.perf_counter


def time_side_by_side(
    case: Case,
    device: str,
    dtype: torch.dtype,
    rounds: int,
    warmup: int,
    names: tuple[str, ...] | None = None,
) -> dict[str, list[float]]:
    """Seconds per fwd+bwd of each layer of ``case`` (or of ``names``), interleaved."""
    layers = {n: make for n, make in case.layers().items() if names is None or n in names}
    runs = {name: setup(make, case, device, dtype) for name, make in layers.items()}
    for run in runs.values():
        for _ in range(warmup):
            step(*run)
    names = list(runs)
    now = clock(device)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            start = now()
            step(*runs[name])
            seconds[name].append(now() - start)
    return seconds


def paired(seconds: dict[str, list[float]], a: str, b: str | list[str]) -> float:
    """Median over rounds of time(a) / time(b) (b: the faster of several, per round)."""
    bs = [b] if isinstance(b, str) else b
    per_round = zip(seconds[a], *(seconds[n] for n in bs), strict=True)
    return statistics.median(ta / min(rest) for ta, *rest in per_round)


# ------------------------------------------------------------------------------ memory


def resident_peak() -> int:
    """Peak resident set of this process in bytes (Linux's VmHWM, else ru_maxrss)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def reset_resident_peak() -> int:
    """Lower the recorded peak to the current resident set where Linux allows; return it."""
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
    except OSError:
        pass
    return resident_peak()


def peaks_here(case: Case, device: str, dtype: torch.dtype, names: list[str]) -> list[int]:
    """Bytes one fwd+bwd of each named layer needs beyond its layer, input and gradient."""
    out = []
    for name in names:
        layer, x, grad = setup(case.layers()[name], case, device, dtype)
        # Warm-up: cuDNN's workspaces and the allocator's first blocks, oneDNN's primitive
        # and weight caches; filled once per process, not per step.
        step(layer, x, grad)
        layer.zero_grad(set_to_none=True)
        x.grad = None
        if device.startswith("cuda"):
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            before = torch.cuda.memory_allocated()
            step(layer, x, grad)
            torch.cuda.synchronize()
            out.append(torch.cuda.max_memory_allocated() - before)
        else:
            before = reset_resident_peak()
            step(layer, x, grad)
            out.append(resident_peak() - before)
        del layer, x, grad
    return out


def peaks(
    case: Case, device: str, dtype: torch.dtype, names: list[str], threads: int
) -> dict[str, int]:
    """Peak memory of one fwd+bwd per layer; on CPU in a fresh subprocess per case."""
    if device.startswith("cuda"):
        return dict(zip(names, peaks_here(case, device, dtype, names), strict=True))
    job = json.dumps({"case": asdict(case), "names": names, "dtype": str(dtype)})
    # A small mmap threshold makes glibc return large blocks at once, so RSS tracks live memory.
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}
    command = [sys.executable, __file__, "--threads", str(threads), "--memory-job", job]
    out = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
    return dict(zip(names, json.loads(out.stdout.strip().splitlines()[-1]), strict=True))


# ------------------------------------------------------------------------------ report


@dataclass(frozen=True)
class Row:
    case: Case
    fused_vs_deconv: float
    reference_vs_fused: float
    auto_vs_best: float
    noise: float
    memory_vs_deconv: float
    deconv_ms: float


def measure(
    case: Case, device: str, dtype: torch.dtype, rounds: int, warmup: int, threads: int
) -> Row:
    seconds = time_side_by_side(case, device, dtype, rounds, warmup)
    memory = peaks(case, device, dtype, ["deconv", "fused"], threads)
    return Row(
        case,
        paired(seconds, "fused", "deconv"),
        paired(seconds, "reference", "fused"),
        paired(seconds, "auto", ["fused", "reference"]),
        paired(seconds, "deconv again", "deconv"),
        memory["fused"] / max(memory["deconv"], 1),
        1e3 * statistics.median(seconds["deconv"]),
    )


def verdict(holds: bool) -> str:
    return "yes" if holds else "**no**"


def target_table(rows: list[tuple[str, Row]]) -> list[str]:
    lines = [
        "| shape | deconv ms | fused / deconv | reference / fused | peak memory fused / "
        "deconv | noise | targets hold |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, r in rows:
        holds = (
            r.fused_vs_deconv <= FUSED_VS_DECONV_MAX
            and r.reference_vs_fused >= REFERENCE_VS_FUSED_MIN
            and r.memory_vs_deconv <= FUSED_VS_DECONV_MAX
        )
        lines.append(
            f"| {r.case.describe()} ({label}) | {r.deconv_ms:.1f} | {r.fused_vs_deconv:.3f} | "
            f"{r.reference_vs_fused:.2f} | {r.memory_vs_deconv:.3f} | {r.noise:.3f} | "
            f"{verdict(holds)} |"
        )
    return lines


def grid_table(rows: list[Row], device: str) -> list[str]:
    lines = [
        "| dims | mode | k | s | fused / deconv | reference / fused | auto takes | auto / best "
        "| peak memory fused / deconv | noise |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        c = r.case
        lines.append(
            f"| {c.dims}-D | {c.mode} | {c.kernel} | {c.scale} | {r.fused_vs_deconv:.3f} | "
            f"{r.reference_vs_fused:.2f} | {c.auto_choice(device)} | {r.auto_vs_best:.3f} | "
            f"{r.memory_vs_deconv:.3f} | {r.noise:.3f} |"
        )
    return lines


SWEEP_SIZES = {
    1: (16, 32, 64, 128, 256, 1024),
    2: (4, 6, 8, 12, 16, 24, 32),
    3: (3, 4, 6, 8, 12, 16, 24),
}


def fit_seconds(counts: list[Counts], seconds: list[float]) -> Counts:
    """Seconds per count that best predict ``seconds`` from ``counts`` in relative terms:
    non-negative least squares of (predicted - measured) / measured; a count that is zero
    in every case gets 0."""
    x, y = np.array(counts, float), np.array(seconds, float)
    scale = x.max(axis=0)
    scale[scale == 0] = 1.0
    fitted = scipy.optimize.nnls(x / scale / y[:, None], np.ones(len(y)))[0] / scale
    return Counts(*map(float, fitted))


def sweep(
    device: str, dtype: torch.dtype, rounds: int, warmup: int, quick: bool, batch_scale: int
) -> list[str]:
    """``impl="auto"`` against the faster path over input sizes, and the cost model refitted.

    Every kernel (3, 5), scale (2, 4), mode and dimension at the grid's batch and channels,
    from a few samples per axis up; the seconds per count of
    :mod:`checkerscope.functional.resize_conv_cost` refitted per dimension to these times
    (:func:`fit_seconds`) are printed beside the library's (fitted the same way to the
    broader grids of ``benchmarks/auto_rule.py``: 1-D and 2-D with few-channel cases, 3-D
    with volumes of 3 to 16 samples per axis).
    """
    ratios = []
    counts: dict[tuple[int, str], list[Counts]] = {}
    seconds: dict[tuple[int, str], list[float]] = {}
    for dims in (1, 2, 3):
        batch, c_in, c_out, _ = grid_shape(dims, quick, batch_scale)
        for mode, kernel, scale in itertools.product(("nearest", "bilinear"), (3, 5), (2, 4)):
            for size in SWEEP_SIZES[dims][:2] if quick else SWEEP_SIZES[dims]:
                case = Case(dims, batch, c_in, c_out, size, kernel, scale, mode)
                times = time_side_by_side(
                    case, device, dtype, rounds, warmup, ("fused", "reference")
                )
                best = statistics.median(map(min, times["fused"], times["reference"]))
                choice = case.auto_choice(device)
                taken = statistics.median(times[choice])
                ratios.append((taken / best, case))
                for name, n in case.counts().items():
                    counts.setdefault((dims, name), []).append(n)
                    seconds.setdefault((dims, name), []).append(statistics.median(times[name]))
                print(
                    f"{case.describe()} k{kernel} s{scale} {mode}: auto/best "
                    f"{taken / best:.3f} ({choice})",
                    flush=True,
                )
    worst = sorted(ratios, key=lambda r: -r[0])[:8]
    within = ", ".join(
        f"{sum(r <= FUSED_VS_DECONV_MAX for r, c in ratios if c.dims == d)} of "
        f"{sum(c.dims == d for _, c in ratios)} in {d}-D"
        for d in (1, 2, 3)
    )

    def shown(n: Counts) -> str:
        return " / ".join(f"{v:.3g}" for v in n)

    return [
        f'impl="auto" over input sizes ({", ".join(map(str, SWEEP_SIZES[1]))} samples in 1-D, '
        f"{', '.join(map(str, SWEEP_SIZES[2]))} px in 2-D, {', '.join(map(str, SWEEP_SIZES[3]))} "
        f"in 3-D; every kernel, scale and mode above): auto / best within 5% in {within}; "
        "the worst:",
        "",
        "| case | kernel | scale | mode | auto takes | auto / best |",
        "|---|---|---|---|---|---|",
        *(
            f"| {c.describe()} | {c.kernel} | {c.scale} | {c.mode} | {c.auto_choice(device)} "
            f"| {r:.2f} |"
            for r, c in worst
        ),
        "",
        "Cost model (seconds per multiply-add, per call, per element moved, per border-block "
        "element), refitted to this run against the library's (`functional/resize_conv_cost.py`):",
        "",
        "| dims | path | refitted | library |",
        "|---|---|---|---|",
        *(
            f"| {d}-D | {name} | {shown(fit_seconds(counts[d, name], seconds[d, name]))} "
            f"| {shown(SECONDS[d][i])} |"
            for d in (1, 2, 3)
            for i, name in enumerate(("fused", "reference"))
        ),
        "",
    ]


def machine(args: argparse.Namespace) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            names = [line.split(":", 1)[1].strip() for line in info if "model name" in line]
        cpu = f"{names[0]} ({len(names)} logical CPUs)" if names else cpu
    except OSError:
        pass
    if args.device.startswith("cuda"):
        cudnn = torch.backends.cudnn.version()
        cpu = f"{torch.cuda.get_device_name(args.device)}, CUDA {torch.version.cuda}, cuDNN {cudnn}"
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    clocked = "thread CPU time" if args.threads == 1 else "wall time"
    if args.device.startswith("cuda"):
        clocked = "wall time between synchronizations"
    return (
        f"{datetime.date.today()}, torch {torch.__version__}, {cpu}, device {args.device} "
        f"{args.dtype}, {args.threads} torch thread(s), {clocked}, load average {load} "
        f"(1/5/15 min) at the start, malloc {args.malloc}, {args.rounds} rounds"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu, or cuda when a GPU is present")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--rounds", type=int, default=11, help="timed rounds per case")
    parser.add_argument("--warmup", type=int, default=2, help="untimed passes per layer")
    parser.add_argument("--malloc", default="retain", choices=["retain", "default"])
    parser.add_argument(
        "--tables", default="targets,grid,sweep", help="comma-separated: targets, grid, sweep"
    )
    parser.add_argument(
        "--batch-scale", type=int, default=1, help="multiply every batch (a GPU: past launch costs)"
    )
    parser.add_argument("--quick", action="store_true", help="tiny shapes: checks the script")
    parser.add_argument("--markdown", help="also write the tables to this markdown file")
    parser.add_argument("--memory-job", help=argparse.SUPPRESS)  # the subprocess's work
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    if args.memory_job:
        job = json.loads(args.memory_job)
        case = Case(**job["case"])
        print(
            json.dumps(
                peaks_here(case, args.device, getattr(torch, job["dtype"][6:]), job["names"])
            )
        )
        return
    if args.malloc == "retain" and any(os.environ.get(k) != v for k, v in RETAIN.items()):
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **RETAIN})
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("--device cuda needs a GPU, and torch sees none")
    rounds, warmup = (2, 1) if args.quick else (args.rounds, args.warmup)
    command = "python benchmarks/layers.py " + " ".join(sys.argv[1:])
    out = [f"`{command}`: {machine(args)}.", ""]
    print(out[0], flush=True)
    tables = args.tables.split(",")
    by_dims = shapes(args.quick, args.batch_scale)
    if "targets" in tables:
        rows = []
        for dims, labelled in by_dims.items():
            for label, (batch, c_in, c_out, size) in labelled:
                row = measure(
                    Case(dims, batch, c_in, c_out, size),
                    args.device,
                    dtype,
                    rounds,
                    warmup,
                    args.threads,
                )
                rows.append((label, row))
                print(target_table([(label, row)])[-1], flush=True)
        out += [
            "Nearest, k=3, s=2 (targets: fused / deconv <= 1.05 in time and memory, "
            "reference / fused >= 2):",
            "",
            *target_table(rows),
            "",
        ]
    if "grid" in tables:
        rows = []
        for dims in (1, 2, 3):
            batch, c_in, c_out, size = grid_shape(dims, args.quick, args.batch_scale)
            for mode in ("nearest", "bilinear"):
                for kernel in (3, 5):
                    for scale in (2, 4):
                        case = Case(dims, batch, c_in, c_out, size, kernel, scale, mode)
                        row = measure(case, args.device, dtype, rounds, warmup, args.threads)
                        rows.append(row)
                        print(grid_table([row], args.device)[-1], flush=True)
        shown = ", ".join(
            Case(d, *grid_shape(d, args.quick, args.batch_scale)).describe() for d in (1, 2, 3)
        )
        out += [
            f"Every dimension, mode, kernel and scale ({shown}; deconv: kernel 2s, stride s):",
            "",
            *grid_table(rows, args.device),
            "",
        ]
    if "sweep" in tables:
        out += sweep(args.device, dtype, rounds, warmup, args.quick, args.batch_scale)
    text = "\n".join(out)
    print("\n" + text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
