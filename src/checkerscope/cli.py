"""The ``checkerscope`` command line: parse, call the library, print. Nothing else lives here.

Every command runs under :func:`~checkerscope.terminal.one_line_errors`, so the exit statuses
are the same everywhere (see :mod:`checkerscope.terminal`): 0 ran and found nothing, 1 flagged
and nothing else, 2 any failure that is not a finding (one line, no traceback), 128 + N when
stopped by signal N. Names that come from files and models are printed as text, never markup.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from checkerscope.experiments.config import SCALES
from checkerscope.report.schema import RESULTS_FILE
from checkerscope.scan import MAX_PIXELS
from checkerscope.terminal import (
    EXIT_CLEAN,
    EXIT_ERROR,
    EXIT_FLAGGED,
    Stop,
    fail,
    one_line_errors,
    printable,
)
from checkerscope.terminal import console as terminal_console

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Find, explain and remove checkerboard artifacts in neural networks.",
)


@app.callback()
def main() -> None:
    """checkerscope: find, explain and remove checkerboard artifacts."""


@app.command()
@one_line_errors
def version() -> None:
    """Print the installed version of checkerscope and torch."""
    import torch

    from checkerscope import __version__

    typer.echo(f"checkerscope {__version__} (torch {torch.__version__})")


OVERLAP_MAX_DIMS = 8
"""``overlap --dims`` above this is refused (the ratio is a product over axes)."""
OVERLAP_MAX_LAYERS = 64
"""``overlap --layers`` above this is refused (strided stacks meet the period limit sooner)."""
OVERLAP_MAX_PLOTTED = 2048
"""``overlap --plot`` draws at most this many outputs per axis (its 2-D map is their square)."""


@app.command()
@one_line_errors
def overlap(
    kernel: int = typer.Option(..., help="Kernel size of each transposed convolution."),
    stride: int = typer.Option(..., help="Stride of each transposed convolution."),
    layers: int = typer.Option(1, help="How many such layers are stacked."),
    dims: int = typer.Option(2, help="Spatial axes for the n-D ratio."),
    size: int = typer.Option(6, help="Input size of the plotted counts."),
    plot: str | None = typer.Option(None, help="Write the 1-D bars and the 2-D map to this PNG."),
) -> None:
    """Print the interior overlap pattern of stacked transposed convolutions and its unevenness."""
    from checkerscope.analysis import overlap as counts
    from checkerscope.analysis import overlap_summary
    from checkerscope.files import check_output_file

    limits = (("dims", dims, OVERLAP_MAX_DIMS), ("layers", layers, OVERLAP_MAX_LAYERS))
    for name, value, most in limits:
        if value > most:
            raise ValueError(f"{name} must be at most {most}, got {value}")
    if dims < 1:
        raise ValueError(f"dims must be a positive integer, got {dims}")
    specs = [(kernel, stride)] * layers if layers > 0 else []
    if plot is not None:
        check_output_file("--plot", plot)
    summary = overlap_summary(specs, (1,) * dims)  # refuses periods too long to compute
    if plot is not None:
        from checkerscope.report.figures.overlap import overlap_figure

        line = counts(specs, size)
        if line.numel() > OVERLAP_MAX_PLOTTED:
            raise ValueError(
                f"--plot draws at most {OVERLAP_MAX_PLOTTED} outputs per axis, and this stack "
                f"gives {line.numel()} for --size {size}: lower --size or --layers"
            )
        title = f"{layers} x (kernel {kernel}, stride {stride})"
        fig = overlap_figure(line, counts(specs, (size, size)), title)
    axis = summary.axes[0]
    typer.echo(f"stack: {layers} x (kernel {kernel}, stride {stride})")
    typer.echo(f"interior pattern (1-D, period {axis.period}): {' '.join(map(str, axis.pattern))}")
    nd = f", {summary.ratio:g} in {dims}-D" if dims > 1 else ""
    typer.echo(f"max/min ratio: {axis.ratio:g} in 1-D{nd}")
    by_period = ", ".join(f"{p}: {r:g}" for p, r in axis.period_ratios.items())
    typer.echo(f"max/min of the pattern averaged mod p, by period p: {by_period}")
    uneven = ", ".join(map(str, axis.uneven_periods)) or "none (flat)"
    typer.echo(f"periods that carry unevenness: {uneven}")
    if plot is not None:
        fig.savefig(plot, dpi=120)
        typer.echo(f"wrote {printable(plot)}")


@app.command()
@one_line_errors
def scan(
    paths: Annotated[
        list[Path],
        typer.Argument(
            exists=True, help="Image and sound (WAV, FLAC) files, or folders to search."
        ),
    ],
    threshold: float | None = typer.Option(
        None, help="Flag scores above this many dB (default: 12, set by the score's validation)."
    ),
    workers: int | None = typer.Option(
        None,
        min=1,
        help="Processes that decode and score (default: min(4, CPUs); never more than the "
        "CPUs or the files).",
    ),
    json_out: Annotated[
        Path | None,
        typer.Option("--json", help="Write JSON Lines, one object per file, here ('-': stdout)."),
    ] = None,
    csv_out: Annotated[
        Path | None, typer.Option("--csv", help="Write a CSV row per file here ('-': stdout).")
    ] = None,
    top: int = typer.Option(20, min=0, help="Rows in the table of worst files."),
    max_pixels: int = typer.Option(
        MAX_PIXELS, min=1, help="Larger images are scored on a top band of rows (memory cap)."
    ),
    html: Annotated[
        Path | None,
        typer.Option(
            help="Write a page with the worst files here: images beside maps of their scores, "
            "sounds as spectrograms with their tones marked and a player."
        ),
    ] = None,
) -> None:
    """Score every image (PNG, JPEG, WebP, TIFF, BMP) and sound (WAV, FLAC) for checkerboard
    artifacts; a sound's are tones at multiples of its sample rate over 2, 4 or 8.

    Columns (CSV, JSON): path, score_db, period, width, height, block_grid_db, rows_scored,
    error, where, flagged, then for sounds tone_hz (the loudest tone of the scoring period),
    sample_rate, frames, channels. Long sounds are read a window at a time.

    Exit status: 0 if every file was scored and none above the threshold, 1 if some scored
    above it, 2 if none did but some file or folder could not be read (listed as errors), or
    on a usage error; 128 + N when stopped by signal N, the rows written so far complete.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
    from rich.table import Table
    from rich.text import Text

    from checkerscope import scan as scanning
    from checkerscope.analysis.score import THRESHOLD

    threshold = scanning.finite_threshold(THRESHOLD if threshold is None else threshold)
    if str(json_out) == "-" and str(csv_out) == "-":
        fail("only one of --json and --csv can write to stdout")
    streams = (("--json", json_out, "json"), ("--csv", csv_out, "csv"))
    scanning.check_outputs(paths, {**{name: out for name, out, _ in streams}, "--html": html})
    console = terminal_console(stderr="-" in (str(json_out), str(csv_out)))
    summary = scanning.ScanSummary(threshold, top)
    with contextlib.ExitStack() as stack:
        writers = []
        for name, out, fmt in streams:
            if out is not None:
                stream = _output_stream(out, name, stack)
                writers.append((name, out, scanning.ResultWriter(stream, fmt, threshold)))
        unreadable: list[OSError] = []
        total = sum(1 for _ in scanning.scanned_files(paths, on_error=unreadable.append))
        stop = stack.enter_context(Stop())
        results = stack.enter_context(contextlib.closing(scanning.scan(paths, workers, max_pixels)))
        columns = (*Progress.get_default_columns()[:1], BarColumn(), MofNCompleteColumn())
        progress = stack.enter_context(Progress(*columns, TimeRemainingColumn(), console=console))
        task = progress.add_task("scanning", total=total + len(unreadable))
        for result in results:
            with stop.atomic():  # a row reaches every output, or none does
                summary.add(result)
                for name, out, writer in writers:
                    try:
                        writer.write(result)
                    except OSError as err:
                        raise ValueError(
                            f"cannot write {name} {str(out)!r}: {err.strerror or err}"
                        ) from err
            progress.advance(task)
    table = Table(title=f"{len(summary.worst())} highest checkerboard scores")
    names = ("score (dB)", "period", "where", "size", "block grid (dB)", "tone (Hz)", "path")
    for name in names:
        table.add_column(name, justify="left" if name == "path" else "right", overflow="fold")
    for r in summary.worst():
        style = "bold red" if r.flagged(threshold) else None
        grid = "" if r.block_grid_db is None else f"{r.block_grid_db:.1f}"
        tone = "" if r.tone_hz is None else f"{r.tone_hz:.0f}"
        cells = (f"{r.score_db:.1f}", str(r.period), r.where or "", _size(r), grid, tone)
        table.add_row(*map(Text, (*cells, printable(r.path))), style=style)
    if summary.worst():
        console.print(table)
    if summary.errors:
        errors = Table(title=f"{summary.failed} files could not be scored")
        errors.add_column("path")
        errors.add_column("error")
        for r in summary.errors:
            errors.add_row(Text(printable(r.path)), Text(printable(r.error)))
        console.print(errors)
    console.print(
        f"{summary.scanned} files, {summary.flagged} above {threshold:g} dB, "
        f"{summary.failed} errors",
        markup=False,
    )
    if html is not None:
        from checkerscope.files import atomic_write_text
        from checkerscope.report.scan_page import render_scan

        try:
            atomic_write_text(html, render_scan(summary, max_pixels))
        except OSError as err:
            raise ValueError(f"cannot write --html {str(html)!r}: {err.strerror or err}") from err
        console.print(f"wrote {html}", markup=False, highlight=False)
    if summary.exit_code == EXIT_ERROR:
        console.print("not every file could be read: exit status 2", markup=False)
    raise typer.Exit(code=summary.exit_code)


def _size(r: Any) -> str:
    """An image's width x height (``*``: a top band scored), a sound's length, rate, channels."""
    if r.sample_rate is not None:
        return f"{r.frames / r.sample_rate:.1f} s {r.sample_rate} Hz {r.channels} ch"
    return f"{r.width}x{r.height}" + ("*" if r.rows_scored != r.height else "")


def _output_stream(out: Path, name: str, stack: contextlib.ExitStack) -> Any:
    """Standard output for ``-``, else ``out`` opened for writing (UTF-8; file names that are
    not UTF-8 keep their bytes); a file that cannot be opened is a one-line error."""
    if str(out) == "-":
        if hasattr(sys.stdout, "reconfigure"):
            sys.stdout.reconfigure(errors="surrogateescape")
        return sys.stdout
    try:
        return stack.enter_context(
            out.open("w", newline="", encoding="utf-8", errors="surrogateescape")
        )
    except OSError as err:
        raise ValueError(f"cannot write {name} {str(out)!r}: {err.strerror or err}") from err


def _overrides(text: str | None, vgg_weights: Path | None) -> dict[str, dict[str, Any]]:
    """``--override``'s JSON, with ``--vgg-weights`` added to style_transfer's: experiment
    options travel as config overrides, so the resolved config beside the results records them."""
    example = '{"gan_training": {"steps": 40}}'
    try:
        overrides = json.loads(text) if text else {}
    except json.JSONDecodeError as err:
        raise ValueError(f"override must be JSON like {example}, got {text!r} ({err})") from None
    if not isinstance(overrides, dict) or not all(isinstance(x, dict) for x in overrides.values()):
        raise ValueError(
            f"override must map experiment ids to {{config field: value}} like {example}, "
            f"got {text!r}"
        )
    if vgg_weights is not None:
        overrides.setdefault("style_transfer", {})["vgg_weights"] = str(vgg_weights)
    return overrides


def _report_page(out: Path) -> Path:
    """Write OUT/index.html, sections ordered and titled by the experiment registry."""
    from checkerscope import experiments
    from checkerscope.report import reproduce_page

    return reproduce_page.build(out, experiments.registered()).resolve()


@app.command()
@one_line_errors
def reproduce(
    scale: str = typer.Option(
        "default",
        metavar=f"[{'|'.join(SCALES)}]",
        help="quick (budget ~90 s on 2 idle CPU cores), default (~10 min, the demo), full (a GPU).",
    ),
    out: Annotated[Path, typer.Option(help="Folder for results.json and the figures.")] = Path(
        "results"
    ),
    only: str | None = typer.Option(None, help="Comma-separated experiment ids to run."),
    device: str = typer.Option("cpu", help="cpu or cuda."),
    data: Annotated[
        Path | None,
        typer.Option(
            help="A folder of images and/or sounds (WAV, FLAC) instead of the embedded data."
        ),
    ] = None,
    resume: bool = typer.Option(False, help="Skip finished experiments, continue the unfinished."),
    seed: int = typer.Option(0, help="Base seed; each experiment derives its own from it."),
    jobs: int | None = typer.Option(
        None,
        min=1,
        help="Worker processes for per-seed work, one torch thread each (default: the idle "
        "CPU cores now, at most the CPU count). The numbers do not depend on it.",
    ),
    vgg_weights: Annotated[
        Path | None,
        typer.Option(help="VGG-16 weights (.safetensors or torch file) for style_transfer."),
    ] = None,
    override: str | None = typer.Option(
        None,
        help='Config fields to replace, as JSON: {"experiment id": {"config field": value}}.',
    ),
    progress: bool = typer.Option(True, help="Show progress bars."),
) -> None:
    """Run the study's experiments and decide its claims; writes OUT/results.json, PNGs and the
    report OUT/index.html.

    Every claim's rule is declared in OUT/results.json before the first experiment runs; per-seed
    work runs in --jobs worker processes with one torch thread each. Under torchrun the training
    runs with DistributedDataParallel (gloo on CPU, nccl on GPU), one process per rank:
    torchrun --nproc_per_node N -m checkerscope reproduce ...
    """
    from rich.text import Text

    from checkerscope import experiments
    from checkerscope.experiments.parallel import free_cores

    settings = experiments.RunSettings(
        scale=scale,
        out=out,
        only=None if only is None else tuple(only.split(",")),
        device=device,
        data=data,
        resume=resume,
        seed=seed,
        jobs=free_cores() if jobs is None else jobs,
        show_progress=progress,
        overrides=_overrides(override, vgg_weights),
    )
    try:
        results = experiments.run(settings)
    except experiments.ExperimentError as err:
        typer.echo(f"Error: {printable(err)}", err=True)
        if (out / RESULTS_FILE).is_file():
            page = _report_page(out)
            typer.echo(f"report of the experiments that finished: {printable(page)}", err=True)
        raise typer.Exit(code=EXIT_ERROR) from err
    if os.environ.get("RANK", "0") != "0":
        return
    console = terminal_console()
    for claim in results["claims"]:
        marks = {True: ("holds", "green"), False: ("does not hold", "red")}
        mark = marks.get(claim["holds"], ("not decided", "yellow"))
        console.print(Text.assemble(printable(claim["id"]), ": ", mark))
    held = sum(c["holds"] is True for c in results["claims"])
    where = printable(out / RESULTS_FILE)
    console.print(
        f"{held}/{len(results['claims'])} claims hold ({settings.jobs} jobs); results in {where}",
        markup=False,
    )
    kept = [i for i in results["experiments"] if settings.only and i not in settings.only]
    if kept:
        console.print(
            f"kept from earlier runs in {printable(out)}: {', '.join(map(printable, kept))}",
            markup=False,
        )
    typer.echo(f"report: {printable(_report_page(out))}")


@app.command()
@one_line_errors
def report(
    out: Annotated[
        Path, typer.Argument(help="A folder written by `checkerscope reproduce`.")
    ] = Path("results"),
    screenshot: Annotated[
        Path | None, typer.Option(help="Also save a PNG of the page's top here (needs chromium).")
    ] = None,
) -> None:
    """Rebuild OUT/index.html from OUT/results.json and the figures beside it."""
    from checkerscope.files import check_output_file
    from checkerscope.report import chromium

    if screenshot is not None:
        check_output_file("--screenshot", screenshot)
    page = _report_page(out)
    typer.echo(f"report: {printable(page)}")
    if screenshot is not None:
        typer.echo(f"screenshot: {printable(chromium.screenshot(page, screenshot))}")


# Options that `audit` and `fix` share, declared once.
TargetArgument = Annotated[
    str,
    typer.Argument(
        help="'package.module:attr' or 'path/to/file.py:attr': a module, a module class or "
        "a factory, called with no arguments."
    ),
]
InputShapeOption = Annotated[
    str,
    typer.Option(
        help="Input shape without the batch axis: '128' (a latent), '3,64,64' (an image)."
    ),
]
WeightsOption = Annotated[
    Path | None,
    typer.Option(help="A state dict: .safetensors, or a torch file (read weights_only)."),
]


@app.command()
@one_line_errors
def audit(
    target: TargetArgument,
    input_shape: InputShapeOption,
    weights: WeightsOption = None,
    seeds: int = typer.Option(8, min=1, help="Re-initializations (or input draws) to average."),
    trained: bool | None = typer.Option(
        None,
        "--trained/--untrained",
        help="Keep the weights, or re-initialize per seed. [default: --trained with --weights]",
    ),
    gradients: bool = typer.Option(
        False, help="Score input gradients (discriminators, classifiers) instead of outputs."
    ),
    batch: int = typer.Option(4, min=1, help="Random inputs per seed."),
    sample_rate: float | None = typer.Option(
        None,
        help="Sample rate (Hz) of a 1-D model's output (its input with --gradients): layers "
        "then name their tones in Hz.",
    ),
    device: str | None = typer.Option(None, help="cpu or cuda. [default: the model's]"),
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    html: Annotated[
        Path | None, typer.Option(help="Write a self-contained HTML page here.")
    ] = None,
) -> None:
    """Score a model's checkerboard artifacts, layer by layer, and the effect of the fix.

    Exit status: 0 if not flagged, 1 if flagged, 2 on a usage error or any other failure
    (a model that fails, an output that is not finite, an output file that cannot be written).
    """
    from checkerscope.auditing import audit as run_audit
    from checkerscope.auditing import load_target
    from checkerscope.files import atomic_write_text, check_output_file
    from checkerscope.weights import load_weights

    shape = _input_shape(input_shape)
    if html is not None:
        check_output_file("--html", html)  # before the audit, whose result it would lose
    model = load_target(target)
    if weights is not None:
        load_weights(model, weights)
    keep = weights is not None if trained is None else trained
    report = run_audit(
        model,
        shape,
        seeds,
        keep,
        device,
        gradients=gradients,
        batch=batch,
        sample_rate=sample_rate,
    )
    verdict_code = EXIT_FLAGGED if report.flagged else EXIT_CLEAN
    if json_out:
        typer.echo(json.dumps(report.to_dict(), indent=2, allow_nan=False))
    else:
        _print_audit(report)
    if html is not None:
        from checkerscope.report.audit_page import render_audit

        atomic_write_text(html, render_audit(report))
        if not json_out:
            typer.echo(f"wrote {printable(html)}")
    raise typer.Exit(code=verdict_code)


def _input_shape(text: str) -> tuple[int, ...]:
    """``--input-shape`` as a tuple of ints ('128', '3,64,64' or '3x64x64'), or a one-line error."""
    try:
        return tuple(int(n) for n in text.replace("x", ",").split(","))
    except ValueError:
        fail(f"--input-shape must be integers like 128 or 3,64,64, got {text!r}")


@app.command()
@one_line_errors
def fix(
    target: TargetArgument,
    out: Annotated[Path, typer.Option(help="Write the fixed model's weights here (.safetensors).")],
    input_shape: InputShapeOption,
    weights: WeightsOption = None,
    steps: int = typer.Option(200, min=1, help="Distillation steps (Adam)."),
    lr: float = typer.Option(1e-3, help="Adam's learning rate."),
    batch: int = typer.Option(16, min=1, help="Random inputs per distillation step."),
    seeds: int = typer.Option(8, min=1, help="Input draws of the audits before and after."),
    progress: bool = typer.Option(True, help="Show a progress bar while distilling."),
) -> None:
    """Remove a trained model's checkerboard: swap its transposed convolutions for
    resize-convolutions, train them to reproduce the model's outputs without the checkerboard
    (checkerscope.convert(model, init="distill") on standard-normal inputs of --input-shape),
    write the new weights and print the audit before and after.

    The weights load into the converted architecture: fixed = checkerscope.convert(model), then
    checkerscope.weights.load_weights(fixed, OUT) (or fixed.load_state_dict(
    safetensors.torch.load_file(OUT))). Exit status: 0 if the fixed model is not flagged, 1 if
    it still is, 2 on a usage error or any other failure (nothing is written then).
    """
    import warnings

    import torch
    from safetensors.torch import save

    from checkerscope import checks
    from checkerscope.auditing import audit as run_audit
    from checkerscope.auditing import load_target
    from checkerscope.conversion import convert
    from checkerscope.files import atomic_write_bytes, check_output_file
    from checkerscope.weights import load_weights

    shape = _input_shape(input_shape)
    check_output_file("--out", out)  # before the work, whose result it would lose
    if out.suffix != ".safetensors":
        raise ValueError(f"--out must be a .safetensors file, got {str(out)!r}")
    checks.positive_number("--lr", lr)
    model = load_target(target)
    if weights is not None:
        load_weights(model, weights)
    model.eval()
    before = run_audit(model, shape, seeds, True)
    noise = torch.Generator().manual_seed(0)
    dtype = next(model.parameters(), torch.empty(0)).dtype

    def inputs() -> torch.Tensor:
        return torch.randn(batch, *shape, generator=noise, dtype=dtype)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nothing converted is an error here, said below
        fixed, conversion = convert(
            model, init="distill", inputs=inputs, steps=steps, lr=lr, return_report=True,
            progress=progress,
        )  # fmt: skip
    if not conversion.converted:
        raise ValueError(
            f"{type(model).__name__} has no stride > 1 ConvTranspose1d/2d/3d layer to fix"
        )
    state = {k: t.detach().cpu().contiguous().clone() for k, t in fixed.state_dict().items()}
    after = run_audit(fixed, shape, seeds, True)
    typer.echo("before:")
    _print_audit(before)
    for line in str(conversion).splitlines():
        typer.echo(printable(line))
    typer.echo("after:")
    _print_audit(after)
    atomic_write_bytes(out, save(state))
    typer.echo(f"wrote {printable(out)}: load it into checkerscope.convert(model)")
    raise typer.Exit(code=EXIT_FLAGGED if after.flagged else EXIT_CLEAN)


def _print_audit(report: Any) -> None:
    """The audit's table and verdict on the terminal; names are shown as text, never markup."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from checkerscope.auditing.render import VERDICTS, layer_table, summary_lines

    console = terminal_console()
    layers = layer_table(report)
    if layers.rows:  # the rows of str(report), drawn by rich
        table = Table(title=layers.title, box=box.SIMPLE_HEAD)
        for name, numeric in zip(layers.columns, layers.numeric, strict=True):
            if numeric:  # numbers are never cut: narrow terminals fold the names instead
                table.add_column(name, justify="right", no_wrap=True, min_width=len(name))
            else:
                table.add_column(name, overflow="fold")
        for row in layers.rows:
            table.add_row(*(Text(printable(cell)) for cell in row))
        console.print(table)
    verdict, *rest = summary_lines(report)
    line = Text(printable(verdict))
    line.highlight_words([VERDICTS[report.flagged]], "bold red" if report.flagged else "green")
    console.print(line)
    for text in rest:
        console.print(Text(printable(text)))
