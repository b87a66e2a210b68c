"""Per-layer blame in Hz for the zoo's audio generators: which upsampling layer of MelGAN,
HiFi-GAN V1 and Demucs adds tones at random init, at which frequency, and what
``checkerscope.convert`` leaves.

Every number comes from ``checkerscope.audit(model, input_shape, sample_rate=...)`` on the
architectures of ``checkerscope.zoo`` (small default widths, documented input shapes, weight
normalisation off: the same function at init), at the sample rates the models are trained at.
Prints the markdown table and the time; ``--markdown FILE`` writes it for ``tools/readme.py``
(the README block ``audio-audit``). One torch thread: the models are small.

    python benchmarks/audio_audit.py [--seeds 4] [--markdown docs/generated/audio-audit.md]
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import torch

from checkerscope import zoo
from checkerscope.auditing import audit
from checkerscope.auditing.render import hertz
from checkerscope.files import atomic_write_text

RATES = {"melgan": 22050, "hifigan_v1": 22050, "demucs": 44100}
"""The zoo's audio generators and the sample rate of their outputs in their papers."""


def rows(seeds: int, batch: int) -> list[str]:
    """Markdown rows, one per upsampling layer of each model, and one for the whole model."""
    out = []
    for name, rate in RATES.items():
        arch = zoo.architecture(name)
        model = zoo.build(name, **arch.survey_kwargs)
        report = audit(model, arch.input_shape, seeds, batch=batch, sample_rate=rate)
        fixed = {layer.name: layer for layer in (report.fix.layers if report.fix else ())}
        for layer in report.layers:
            layer_rate = rate * layer.output_size[-1] / report.output_shape[-1]
            after = fixed.get(layer.name)
            fix = f"{after.kind}, {after.score:.1f} dB" if after else "-"
            out.append(
                f"| {name} | `{layer.name}` | {layer.kind} | {hertz(layer_rate)} | "
                f"{hertz(layer.tone_hz)} | {layer.score:.1f} dB | {fix} |"
            )
        fix_score = f"{report.fix.score:.1f} dB" if report.fix else "-"
        out.append(
            f"| {name} | **output** | | {hertz(rate)} | {hertz(report.tone_hz)} | "
            f"**{report.score:.1f} dB** | **{fix_score}** |"
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--markdown", default=None, help="write the table here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    start, cpu = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    table = rows(args.seeds, args.batch)
    after = resource.getrusage(resource.RUSAGE_SELF)
    seconds = time.perf_counter() - start
    cpu_s = after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime
    command = "python benchmarks/audio_audit.py" + (
        f" --seeds {args.seeds}" if args.seeds != 4 else ""
    )
    text = "\n".join(
        [
            f"`{command}` (`checkerscope.audit(..., sample_rate=...)` at random init, "
            f'{args.seeds} seeds; "tone": the lowest tone of the pattern each layer adds, '
            "at the layer's own rate; the fix is `convert(model)`):",
            "",
            "| model | layer | kind | rate | tone | adds | after convert |",
            "|---|---|---|---|---|---|---|",
            *table,
        ]
    )
    print(text)
    print(
        f"\n{seconds:.1f} s wall, {cpu_s:.1f} s CPU, one thread, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    if args.markdown:
        atomic_write_text(args.markdown, text + "\n")


if __name__ == "__main__":
    main()
