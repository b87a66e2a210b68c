"""Forward+backward time and peak memory of the upsampling layers, measured side by side.

Compares the fused ResizeConv2d, its reference (interpolate, pad, convolve),
``nn.ConvTranspose2d(128, 64, 4, 2, 1)`` and SubPixelConv2d at batch 16, 128 -> 64 channels,
32 -> 64 pixels (plus 128 -> 256 pixels on CUDA), and prints whether the targets hold:
on CPU float32, fused <= 1.25x the ConvTranspose2d time, >= 2x faster than the reference, and
with a lower peak memory than the reference.

Timing runs every layer in one process, in rotating order, one fwd+bwd each per round, so
that the machine's load falls on all of them alike; the median over rounds is reported.
Peak memory on CPU is the growth of the peak resident set (VmHWM) over one fwd+bwd,
each layer in a fresh subprocess; on CUDA it is ``torch.cuda.max_memory_allocated``.

    python benchmarks/layers.py [--device cpu|cuda] [--repeats 15] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from checkerscope.nn import ResizeConv2d, SubPixelConv2d

FUSED_VS_CONVT_MAX = 1.25  # fused time / ConvTranspose2d time
REFERENCE_VS_FUSED_MIN = 2.0  # reference time / fused time


@dataclass(frozen=True)
class Shape:
    batch: int
    in_channels: int
    out_channels: int
    size: int  # input height and width; the output is twice that

    def __str__(self) -> str:
        return (
            f"batch {self.batch}, {self.in_channels}->{self.out_channels} channels, "
            f"{self.size}->{2 * self.size} pixels"
        )


def layers(shape: Shape) -> dict[str, Callable[[], nn.Module]]:
    """Name -> constructor of every layer compared, all upsampling by 2."""
    c_in, c_out = shape.in_channels, shape.out_channels
    return {
        "ResizeConv2d fused": lambda: ResizeConv2d(c_in, c_out, impl="fused"),
        "ResizeConv2d reference": lambda: ResizeConv2d(c_in, c_out, impl="reference"),
        "ConvTranspose2d(k=4, s=2)": lambda: nn.ConvTranspose2d(c_in, c_out, 4, 2, 1),
        "SubPixelConv2d": lambda: SubPixelConv2d(c_in, c_out, 3, 2, init="icnr", blur=False),
    }


def setup(name: str, shape: Shape, device: str) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """The layer, an input that wants its gradient, and the gradient to send back."""
    torch.manual_seed(0)
    layer = layers(shape)[name]().to(device)
    x = torch.randn(shape.batch, shape.in_channels, shape.size, shape.size, device=device)
    x.requires_grad_()
    grad = torch.randn(shape.batch, shape.out_channels, 2 * shape.size, 2 * shape.size)
    return layer, x, grad.to(device)


def step(layer: nn.Module, x: torch.Tensor, grad: torch.Tensor) -> None:
    """One forward and backward pass, gradients dropped (not accumulated) between calls."""
    layer.zero_grad(set_to_none=True)
    x.grad = None
    layer(x).backward(grad)


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_side_by_side(
    shape: Shape, device: str, repeats: int, warmup: int
) -> dict[str, list[float]]:
    """Seconds per fwd+bwd of each layer, interleaved round by round."""
    cases = {name: setup(name, shape, device) for name in layers(shape)}
    for case in cases.values():
        for _ in range(warmup):
            step(*case)
    names = list(cases)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            sync(device)
            start = time.perf_counter()
            step(*cases[name])
            sync(device)
            seconds[name].append(time.perf_counter() - start)
    return seconds


def peak_bytes_here(name: str, shape: Shape, device: str) -> int:
    """Bytes a fwd+bwd needs beyond the layer, input and output gradient (this process)."""
    layer, x, grad = setup(name, shape, device)
    if device.startswith("cuda"):
        step(layer, x, grad)  # warm-up: cuDNN workspaces and the allocator's first blocks
        layer.zero_grad(set_to_none=True)
        x.grad = None
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        step(layer, x, grad)
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - before
    # No warm-up on CPU: the peak resident set of this fresh process is what one pass needs.
    before = reset_resident_peak()
    step(layer, x, grad)
    return resident_peak() - before


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


def peak_bytes(name: str, shape: Shape, device: str, threads: int) -> int:
    """Peak memory of one fwd+bwd: on CPU in a fresh subprocess, so no layer sees another's."""
    if device.startswith("cuda"):
        return peak_bytes_here(name, shape, device)
    job = json.dumps({"name": name, "shape": shape.__dict__, "device": device})
    # A fixed mmap threshold makes glibc return large blocks at once, so RSS tracks live memory.
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
    out = subprocess.run(
        [sys.executable, __file__, "--threads", str(threads), "--memory-job", job],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    return int(out.stdout.strip().splitlines()[-1])


def verdict(holds: bool) -> str:
    return "holds" if holds else "DOES NOT HOLD"


def report(shape: Shape, device: str, repeats: int, warmup: int, threads: int) -> None:
    seconds = time_side_by_side(shape, device, repeats, warmup)
    peaks = {name: peak_bytes(name, shape, device, threads) for name in seconds}
    median = {name: statistics.median(s) for name, s in seconds.items()}
    print(f"\n{shape} | {device} float32 | {repeats} rounds, median of fwd+bwd")
    print(f"{'layer':<28}{'median ms':>11}{'min ms':>9}{'max ms':>9}{'peak MiB':>11}")
    for name, s in seconds.items():
        print(
            f"{name:<28}{1e3 * median[name]:>11.1f}{1e3 * min(s):>9.1f}{1e3 * max(s):>9.1f}"
            f"{peaks[name] / 2**20:>11.1f}"
        )
    best = {name: min(s) for name, s in seconds.items()}
    fused, ref = median["ResizeConv2d fused"], median["ResizeConv2d reference"]
    convt = median["ConvTranspose2d(k=4, s=2)"]
    fused_mem, ref_mem = peaks["ResizeConv2d fused"], peaks["ResizeConv2d reference"]
    note = "" if device == "cpu" else "  (the targets are set for CPU float32; shown for reference)"
    # The verdicts use medians; the ratio of the fastest rounds shows what noise hides.
    fused_best = best["ResizeConv2d fused"]
    best_convt = fused_best / best["ConvTranspose2d(k=4, s=2)"]
    best_ref = best["ResizeConv2d reference"] / fused_best
    print(
        f"fused / ConvTranspose2d time: {fused / convt:.2f}x median, {best_convt:.2f}x fastest "
        f"(target <= {FUSED_VS_CONVT_MAX}x: {verdict(fused / convt <= FUSED_VS_CONVT_MAX)}){note}"
    )
    print(
        f"reference / fused time:       {ref / fused:.2f}x median, {best_ref:.2f}x fastest "
        f"(target >= {REFERENCE_VS_FUSED_MIN}x: {verdict(ref / fused >= REFERENCE_VS_FUSED_MIN)})"
    )
    print(
        f"peak memory fused vs reference: {fused_mem / 2**20:.1f} vs {ref_mem / 2**20:.1f} MiB "
        f"(target fused < reference: {verdict(fused_mem < ref_mem)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=15, help="timed rounds per layer")
    parser.add_argument("--warmup", type=int, default=2, help="untimed passes per layer")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--memory-job", help=argparse.SUPPRESS)  # the subprocess's work
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.memory_job:
        job = json.loads(args.memory_job)
        print(peak_bytes_here(job["name"], Shape(**job["shape"]), job["device"]))
        return
    print(f"torch {torch.__version__}, {args.threads} CPU threads, device {args.device}")
    shapes = [Shape(16, 128, 64, 32)]
    if args.device.startswith("cuda"):
        shapes.append(Shape(16, 128, 64, 128))
    for shape in shapes:
        report(shape, args.device, args.repeats, args.warmup, args.threads)


if __name__ == "__main__":
    main()
