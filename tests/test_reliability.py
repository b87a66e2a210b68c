"""Nothing lost, nothing misleading (issue 13): hostile inputs and faults, one section per case.

Every failure that is not a finding exits 2 with one line and no traceback; 1 means "flagged"
and nothing else. The last test feeds `scan` random folders: no crash, hang or lost row.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import multiprocessing
import os
import signal
import struct
import subprocess
import sys
import textwrap
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from typer.testing import CliRunner

from checkerscope import experiments, files
from checkerscope import scan as S
from checkerscope.analysis import overlap, overlap_summary
from checkerscope.analysis.overlap_counts import MAX_COUNTS, MAX_PERIOD
from checkerscope.cli import app
from checkerscope.experiments import checkpoint as ckpt
from checkerscope.experiments.decision import Claim, Effect, Exact
from checkerscope.experiments.runner import Context, Experiment, ExperimentResult, run
from checkerscope.experiments.settings import RunSettings
from checkerscope.images import SUFFIXES, iter_image_files, read_image
from checkerscope.report import reproduce_page
from checkerscope.terminal import printable

WIDE = {"COLUMNS": "400"}  # rich folds long paths at 80 columns


def invoke(*args: str) -> object:
    return CliRunner(env=WIDE).invoke(app, [str(a) for a in args])


def one_line_error(result: object, *needles: str) -> None:
    """Exit 2, an ``Error:`` line holding every needle, and no traceback."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.output
    for needle in needles:
        assert needle in errors[0], (needle, result.output)


def noisy(width: int = 96, height: int = 96, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(40, 200, (height, width, 3), dtype=np.uint8)


def save(array: np.ndarray, path: Path, **kw: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **kw)
    return path


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(width: int, height: int, rows: bytes, interlace: int = 0) -> bytes:
    """A grey PNG with header ``width`` x ``height`` and ``rows`` (filtered) as its data."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, interlace)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


# 1. Images over --max-pixels: truncated files are errors, never scored on made-up rows.


@pytest.mark.parametrize("fmt", ["png", "jpg"])
@pytest.mark.parametrize("keep", [0.1, 0.5, 0.95])
def test_truncated_files_over_max_pixels_are_errors(tmp_path: Path, fmt: str, keep: float) -> None:
    whole = save(noisy(300, 400), tmp_path / f"whole.{fmt}", quality=90)
    data = whole.read_bytes()
    cut = tmp_path / f"cut.{fmt}"
    cut.write_bytes(data[: int(len(data) * keep)])
    assert S.score_file(whole, max_pixels=300 * 100).error is None  # the band path itself
    result = S.score_file(cut, max_pixels=300 * 100)
    assert result.score_db is None and "truncated" in result.error, result


def test_a_header_claiming_more_rows_than_its_data_holds_is_an_error(tmp_path: Path) -> None:
    """100,000 x 100,000 pixels claimed over 64 rows: a complete, valid zlib stream and IEND,
    which PIL would decode, filling the rest with zeros."""
    width = 100_000
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_bytes(width, width, (b"\x00" + bytes(width)) * 64))
    result = S.score_file(bomb)  # above MAX_PIXELS: the band path
    assert result.score_db is None and "truncated" in result.error, result
    short = tmp_path / "short.png"  # the same below MAX_PIXELS: decoded whole
    short.write_bytes(png_bytes(100, 100, (b"\x00" + b"\xff" * 100) * 10))
    result = S.score_file(short)
    assert result.score_db is None and "truncated" in result.error, result


def test_interlaced_pngs_still_decode(tmp_path: Path) -> None:
    """The data check counts interlaced PNGs' seven passes right (PIL cannot write them)."""
    image = noisy(37, 29)[..., 0]
    passes = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4))
    passes += ((1, 0, 2, 2), (0, 1, 1, 2))
    raw = b"".join(
        b"".join(b"\x00" + row.tobytes() for row in image[y0::dy, x0::dx])
        for x0, y0, dx, dy in passes
        if image[y0::dy, x0::dx].size
    )
    path = tmp_path / "interlaced.png"
    path.write_bytes(png_bytes(37, 29, raw, interlace=1))
    np.testing.assert_array_equal(read_image(path, 10**6).array, image)
    path.write_bytes(png_bytes(37, 29, raw[:-40], interlace=1))
    with pytest.raises((ValueError, OSError), match="truncated"):  # PIL's or ours
        read_image(path, 10**6)


# 2. File and layer names are data: never markup, never terminal control.


def test_file_names_are_shown_as_they_are(tmp_path: Path) -> None:
    names = ["IMG_0001 [edited].png", "d[/]b.png", "[bold]x[/bold].png"]
    for i, name in enumerate([*names, "esc\x1b[2J\x1b]0;t\x07.png"]):
        save(noisy(seed=i), tmp_path / name)
    (tmp_path / "[red]bad.png").write_bytes(b"not an image [/]")
    result = invoke("scan", tmp_path, "--workers", "1")
    assert result.exit_code == 2, result.output  # the bad file; nothing flagged
    for name in [*names, "[red]bad.png"]:
        assert name in result.output, name
    assert "esc\\x1b[2J\\x1b]0;t\\x07.png" in result.output
    assert "\x1b" not in result.output and "\x07" not in result.output


def test_layer_names_are_shown_as_they_are(tmp_path: Path) -> None:
    model = tmp_path / "named.py"
    model.write_text(
        textwrap.dedent(
            """
            import torch
            from torch import nn

            class Named(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.add_module("up[/]", nn.ConvTranspose2d(4, 3, 4, 2, 1))
                    self.add_module("x\\x1b[31m", nn.ConvTranspose2d(3, 3, 4, 2, 1))

                def forward(self, x):
                    return getattr(self, "x\\x1b[31m")(getattr(self, "up[/]")(x))
            """
        )
    )
    result = invoke("audit", f"{model}:Named", "--input-shape", "4,8,8", "--seeds", "2")
    assert result.exit_code in (0, 1), result.output
    assert "up[/]" in result.output and "x\\x1b[31m" in result.output
    assert "\x1b" not in result.output


def test_printable_escapes_controls_and_undecodable_bytes() -> None:
    assert printable("a\nb\tc\x7f\x9b\u202e") == "a\\nb\\tc\\x7f\\x9b\\u202e"
    assert printable(os.fsdecode(b"caf\xe9.png")) == "caf\\xe9.png"
    assert printable("é [b] ok") == "é [b] ok"


# 3. reproduce --only merges into the results already in the folder.


def ran(claim_id: str) -> Claim:
    """An exact claim that an experiment of these tests decides by running."""
    return Claim(claim_id, "It ran.", Effect("runs", ""), Exact())


def counter(experiment_id: str) -> Experiment:
    def go(ctx: Context) -> ExperimentResult:
        ctx.decide(f"{experiment_id}_ok", checks={"it ran": True}, effect=1.0)
        return ExperimentResult({"value": float(torch.rand(()))})

    configs = {scale: None for scale in ("quick", "default", "full")}
    return Experiment(experiment_id, experiment_id, (ran(f"{experiment_id}_ok"),), configs, go)


def test_rerunning_one_experiment_keeps_the_others(tmp_path: Path) -> None:
    exps = [counter("a"), counter("b"), counter("c")]
    run(exps, RunSettings("quick", tmp_path, show_progress=False))
    first = json.loads((tmp_path / "results.json").read_text())
    run(exps, RunSettings("quick", tmp_path, only=["b"], show_progress=False))
    merged = json.loads((tmp_path / "results.json").read_text())
    assert list(merged["experiments"]) == ["a", "b", "c"]
    assert sorted(c["id"] for c in merged["claims"]) == ["a_ok", "b_ok", "c_ok"]
    assert merged["experiments"]["a"] == first["experiments"]["a"]
    assert "merged" in merged["environment"]["time"]
    with pytest.raises(ValueError, match="only adds to the results of the earlier run"):
        run(exps, RunSettings("quick", tmp_path, only=["b"], seed=1, show_progress=False))
    with pytest.raises(ValueError, match="only adds to the results of the earlier run"):
        run(exps, RunSettings("default", tmp_path, only=["b"], show_progress=False))


def test_cli_says_what_it_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(experiments, "registered", lambda: [counter("a"), counter("b")])
    args = ["reproduce", "--scale", "quick", "--out", tmp_path, "--no-progress"]
    assert invoke(*args).exit_code == 0
    result = invoke(*args, "--only", "b")
    assert result.exit_code == 0, result.output
    assert f"kept from earlier runs in {tmp_path}: a" in result.output
    assert "2/2 claims hold" in result.output
    (tmp_path / "results.json").write_text("[1, 2]")
    one_line_error(invoke(*args, "--only", "b"), "results.json", "not a results file")


# 4. Special files named like images are errors, never opened for reading.


@pytest.mark.timeout(60)
def test_a_fifo_named_png_is_an_error_and_the_batch_arrives(tmp_path: Path) -> None:
    for i in range(5):
        save(noisy(seed=i), tmp_path / f"{i}.png")
    os.mkfifo(tmp_path / "2a.png")
    (tmp_path / "zero.png").symlink_to("/dev/zero")
    results = {Path(r.path).name: r for r in S.scan([tmp_path], workers=1, chunksize=8)}
    assert set(results) == {"0.png", "1.png", "2.png", "2a.png", "3.png", "4.png", "zero.png"}
    assert "is a FIFO, not a regular file" in results["2a.png"].error
    assert "is a character device" in results["zero.png"].error
    assert all(results[f"{i}.png"].score_db is not None for i in range(5))


# 5. An unreadable subfolder is an error row, and the scan does not pass.


def test_an_unreadable_subfolder_is_listed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    save(noisy(), tmp_path / "a.png")
    save(noisy(seed=1), tmp_path / "locked" / "b.png")
    scandir = os.scandir

    def refuse(path: object = ".") -> object:
        if Path(os.fspath(path)).name == "locked":
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", refuse)  # root reads every folder: simulate the refusal
    out = tmp_path / "out.jsonl"
    result = invoke("scan", tmp_path, "--json", out, "--workers", "1")
    assert result.exit_code == 2, result.output
    rows = {Path(r["path"]).name: r for r in map(json.loads, out.read_text().splitlines())}
    assert set(rows) == {"a.png", "locked"}
    assert "folder cannot be read: Permission denied" in rows["locked"]["error"]
    assert "locked" in result.output and "exit status 2" in result.output


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads folders whatever their mode")
def test_a_folder_without_permissions_is_listed(tmp_path: Path) -> None:
    save(noisy(), tmp_path / "locked" / "b.png")
    (tmp_path / "locked").chmod(0)
    try:
        results = list(S.scan([tmp_path], workers=1))
    finally:
        (tmp_path / "locked").chmod(0o755)
    assert [Path(r.path).name for r in results] == ["locked"] and results[0].error


# 6. Failures that are not findings: checked before the work, one line, exit 2.


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    save(noisy(), tmp_path / "in" / "a.png")
    return tmp_path / "in"


def test_scan_outputs_are_checked_before_the_scan(image_folder: Path, tmp_path: Path) -> None:
    missing = tmp_path / "missing" / "out.csv"
    one_line_error(invoke("scan", image_folder, "--csv", missing), "--csv", "does not exist")
    one_line_error(invoke("scan", image_folder, "--json", tmp_path), "--json", "is a folder")
    file = tmp_path / "file"
    file.write_text("x")
    one_line_error(invoke("scan", image_folder, "--csv", file / "out.csv"), "is not a folder")


def test_a_full_disk_is_one_line(image_folder: Path) -> None:
    one_line_error(invoke("scan", image_folder, "--csv", "/dev/full"), "No space left on device")


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "models.py"
    path.write_text(
        textwrap.dedent(
            """
            import torch
            from torch import nn

            class Up(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.up = nn.ConvTranspose2d(2, 1, 4, 2, 1)

                def forward(self, x):
                    return self.up(x)

            class NaN(Up):
                def forward(self, x):
                    return self.up(x) * float("nan")
            """
        )
    )
    return path


def test_audit_html_into_a_missing_folder_stops_before_the_audit(
    model_file: Path, tmp_path: Path
) -> None:
    page = tmp_path / "missing" / "audit.html"
    result = invoke("audit", f"{model_file}:Up", "--input-shape", "2,8,8", "--html", page)
    one_line_error(result, "--html", "does not exist")
    assert "checkerboard score" not in result.output  # refused before the audit ran


def test_a_full_disk_after_the_audit_keeps_its_result(
    model_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(path: object, data: bytes) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(files, "atomic_write_bytes", full)
    page = tmp_path / "audit.html"
    result = invoke("audit", f"{model_file}:Up", "--input-shape", "2,8,8", "--html", page)
    one_line_error(result, "No space left on device")
    assert "checkerboard score of the outputs" in result.output  # printed first


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_audit_on_a_missing_device(model_file: Path) -> None:
    result = invoke("audit", f"{model_file}:Up", "--input-shape", "2,8,8", "--device", "cuda")
    one_line_error(result, "device 'cuda' is not available")


def test_an_absurd_input_shape_is_refused(model_file: Path) -> None:
    result = invoke("audit", f"{model_file}:Up", "--input-shape", "2,100000,100000")
    one_line_error(result, "MAX_INPUT_VALUES")


def test_reproduce_out_on_a_file(tmp_path: Path) -> None:
    file = tmp_path / "results"
    file.write_text("x")
    one_line_error(invoke("reproduce", "--out", file, "--scale", "quick"), "which is a file")
    assert file.read_text() == "x"


def test_reproduce_data_with_a_corrupt_image(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def go(ctx: Context) -> ExperimentResult:
        calls.append("yes")
        ctx.data.images()
        ctx.decide("d_ok", checks={"it ran": True}, effect=1.0)
        return ExperimentResult({})

    configs = {scale: None for scale in ("quick", "default", "full")}
    registry = [Experiment("d", "d", (ran("d_ok"),), configs, go)]
    monkeypatch.setattr(experiments, "registered", lambda: registry)
    data = tmp_path / "data"
    save(noisy(), data / "good.png")
    (data / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    args = ["reproduce", "--scale", "quick", "--out", tmp_path / "out", "--data", data]
    one_line_error(invoke(*args, "--no-progress"), "bad.png", "cannot be decoded")
    assert calls == []  # found before any experiment ran


@pytest.mark.parametrize("damage", ["empty", "truncated", "bit"])
def test_resume_from_a_damaged_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    def go(ctx: Context) -> ExperimentResult:
        path = ctx.checkpoint_dir / "last.pt"
        state = ckpt.load_checkpoint(path) if path.exists() else {"step": 0}
        ckpt.save_checkpoint(path, {"step": state["step"] + 1, "w": torch.arange(500.0)})
        ctx.decide("t_ok", checks={"it ran": True}, effect=1.0)
        return ExperimentResult({"step": state["step"]})

    configs = {scale: None for scale in ("quick", "default", "full")}
    registry = [Experiment("t", "t", (ran("t_ok"),), configs, go)]
    monkeypatch.setattr(experiments, "registered", lambda: registry)
    args = ["reproduce", "--scale", "quick", "--out", tmp_path, "--no-progress"]
    assert invoke(*args).exit_code == 0
    checkpoint = tmp_path / "checkpoints" / "t" / "last.pt"
    data = checkpoint.read_bytes()
    damaged = {
        "empty": b"",
        "truncated": data[: len(data) // 2],
        "bit": data[:-100] + bytes([data[-100] ^ 4]) + data[-99:],
    }[damage]
    checkpoint.write_bytes(damaged)
    (tmp_path / "results.json").unlink()  # so that t runs again and reads its checkpoint
    one_line_error(invoke(*args, "--resume"), str(checkpoint), "checkpoint")


def test_report_on_a_malformed_results_file(tmp_path: Path) -> None:
    for text in (b"[]", b'{"claims": 5}', b'{"experiments": {"a": {"figures": 3}}}', b"\xff\xfe"):
        (tmp_path / "results.json").write_bytes(text)
        one_line_error(invoke("report", tmp_path), "results.json")
        with pytest.raises(ValueError, match=r"results\.json"):
            reproduce_page.build(tmp_path)


# 7. Outputs never destroy data.


def test_outputs_never_overwrite_inputs(image_folder: Path, tmp_path: Path) -> None:
    photo = image_folder / "a.png"
    before = photo.read_bytes()
    one_line_error(invoke("scan", image_folder, "--csv", photo), "is an input of the scan")
    one_line_error(invoke("scan", photo, "--json", photo), "is an input of the scan")
    (tmp_path / "link.csv").symlink_to(photo)
    one_line_error(invoke("scan", image_folder, "--csv", tmp_path / "link.csv"), "is an input")
    one_line_error(invoke("scan", image_folder, "--csv", image_folder / "new.png"), "is an input")
    assert photo.read_bytes() == before
    same = tmp_path / "out.txt"
    result = invoke("scan", image_folder, "--csv", same, "--json", same)
    one_line_error(result, "name the same file")
    assert invoke("scan", image_folder, "--csv", image_folder / "scores.csv").exit_code == 0


# 8. overlap: the work is bounded, or refused with the limit.


def test_deep_stacks_are_summarized_without_building_2d_arrays() -> None:
    summary = overlap_summary([(3, 2)] * 16, (1, 1))  # 34 GB as a 2-D pattern
    axis = summary.axes[0]
    assert axis.period == 2**16
    assert summary.ratio == pytest.approx(axis.ratio**2)
    with pytest.raises(ValueError, match="MAX_COUNTS"):
        summary.pattern  # noqa: B018 (the 2-D pattern is built only when read)
    small = overlap_summary([(3, 2)] * 3, (1, 1))
    assert small.ratio == float(small.pattern.max() / small.pattern.min())


@pytest.mark.timeout(60)
def test_overlap_refuses_what_it_cannot_finish() -> None:
    k3s2 = ["overlap", "--kernel", "3", "--stride", "2"]
    one_line_error(invoke(*k3s2, "--layers", "25"), str(MAX_PERIOD))
    one_line_error(invoke("overlap", "--kernel", "8", "--stride", "1", "--layers", "30"), "int64")
    one_line_error(invoke(*k3s2, "--dims", "100000000"), "dims must be at most")
    with pytest.raises(ValueError, match=str(MAX_COUNTS)):
        overlap((3, 2), (100_000, 100_000))
    result = invoke(*k3s2, "--layers", "16")
    assert result.exit_code == 0 and "periods that carry unevenness: 2, 4," in result.output


# 9. Non-finite numbers are never a verdict.


def test_nan_outputs_are_an_error(model_file: Path) -> None:
    result = invoke("audit", f"{model_file}:NaN", "--input-shape", "2,8,8", "--seeds", "2")
    one_line_error(result, "not finite")


def test_non_finite_thresholds_are_refused(image_folder: Path) -> None:
    for value in ("nan", "inf", "-inf"):
        result = invoke("scan", image_folder, "--threshold", value)
        one_line_error(result, "threshold must be a finite")
    with pytest.raises(ValueError, match="finite"):
        S.ScanSummary(float("nan"))


# 10. Checkpoints carry a checksum: damage is named, never resumed.


def test_one_flipped_bit_is_found(tmp_path: Path) -> None:
    path = tmp_path / "last.pt"
    ckpt.save_checkpoint(path, {"step": 3, "w": torch.arange(1000.0)})
    data = bytearray(path.read_bytes())
    for position in (len(data) // 2, len(data) - 50, 80, 10):  # tensor, zip index, header
        flipped = data.copy()
        flipped[position] ^= 1
        path.write_bytes(bytes(flipped))
        with pytest.raises(ValueError, match=f"checkpoint '{path}' (is damaged|has no checksum)"):
            ckpt.load_checkpoint(path)
    path.write_bytes(bytes(data[:-4096]))  # 4 KB lost
    with pytest.raises(ValueError, match="is damaged"):
        ckpt.load_checkpoint(path)
    path.write_bytes(b"")
    with pytest.raises(ValueError, match="is empty"):
        ckpt.load_checkpoint(path)


# 11. Signals, worker counts, --only "", --weights on a folder.


@pytest.mark.slow
def test_sigterm_mid_scan_loses_no_row(tmp_path: Path) -> None:
    folder = tmp_path / "many"
    for i in range(60):
        save(noisy(384, 384, seed=i), folder / f"{i:02d}.png", compress_level=1)
    out_csv, out_json = tmp_path / "s.csv", tmp_path / "s.jsonl"
    args = [sys.executable, "-m", "checkerscope", "scan", folder, "--csv", out_csv]
    args += ["--json", out_json, "--workers", "2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if out_json.exists() and out_json.read_text().count("\n") >= 3:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, stderr.decode()
    assert b"Traceback" not in stderr and b"stopped by SIGTERM" in stderr
    lines = [json.loads(line) for line in out_json.read_text().splitlines()]
    with out_csv.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert 3 <= len(rows) == len(lines) < 60
    assert [r["path"] for r in rows] == [line["path"] for line in lines]


def test_no_more_workers_than_files_or_cpus(tmp_path: Path) -> None:
    files = [str(tmp_path / f"{i}.png") for i in range(23)]
    results = S.map_files(os.path.basename, files, workers=1000)
    first = next(results)
    started = len(multiprocessing.active_children())
    results.close()
    assert first.endswith(".png")
    assert 1 <= started <= min(23, len(os.sched_getaffinity(0)))
    assert S.available_cpus() == len(os.sched_getaffinity(0))
    assert list(S.map_files(os.path.basename, [], workers=1000)) == []


def test_only_empty_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    called: list[object] = []
    monkeypatch.setattr(experiments, "run", lambda settings: called.append(settings))
    for only in ("", ",", "a,,b", " "):
        result = invoke("reproduce", "--only", only, "--out", tmp_path)
        one_line_error(result, "only must name experiments")
    assert called == []
    with pytest.raises(ValueError, match="only must name experiments"):
        RunSettings("quick", tmp_path, only=[])


def test_weights_given_a_folder(model_file: Path, tmp_path: Path) -> None:
    result = invoke("audit", f"{model_file}:Up", "--input-shape", "2,8,8", "--weights", tmp_path)
    one_line_error(result, "is a folder")


# Exit statuses are the same everywhere: 1 is "flagged" and nothing else.


def test_unexpected_failures_exit_2_in_one_line(
    image_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("something inside\nbroke")

    monkeypatch.setattr(S, "scan", broken)
    one_line_error(invoke("scan", image_folder), "RuntimeError: something inside\\nbroke")


# Property: random folders never crash, hang or lose a row.

VALID: dict[str, bytes] = {}


def valid_image(fmt: str) -> bytes:
    if fmt not in VALID:
        buffer = io.BytesIO()
        options = {"quality": 80} if fmt == "JPEG" else {}
        Image.fromarray(noisy(64, 64, seed=len(VALID))).save(buffer, format=fmt, **options)
        VALID[fmt] = buffer.getvalue()
    return VALID[fmt]


FORMATS = ("PNG", "JPEG", "WEBP", "TIFF", "BMP")
content = st.one_of(
    st.binary(max_size=600),
    st.tuples(st.sampled_from(FORMATS), st.floats(0, 1)).map(
        lambda f: valid_image(f[0])[: int(len(valid_image(f[0])) * f[1])]
    ),
    st.sampled_from(FORMATS).map(valid_image),
)
entry = st.tuples(
    st.sampled_from(["", "sub/", "sub/deep/", "x[/]/"]),
    st.text(alphabet="ab[]/ _\x1b\n-é", min_size=1, max_size=6).filter(lambda t: "/" not in t),
    st.sampled_from([*SUFFIXES, ".PNG", ".txt"]),
    content,
)


@pytest.mark.timeout(120)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(entry, min_size=1, max_size=7), st.booleans())
def test_random_folders_lose_nothing(entries: list, fifo: bool) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "in"
        for folder, stem, suffix, data in entries:
            path = root / folder / f"{stem}{suffix}"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        if fifo:
            os.mkfifo(root / "pipe.png")
        found = sorted(os.fspath(p) for p in iter_image_files([root]))
        out_csv, out_json = Path(tmp) / "out.csv", Path(tmp) / "out.jsonl"
        args = ["--csv", out_csv, "--json", out_json, "--max-pixels", "2048", "--workers", "1"]
        result = invoke("scan", root, *args)
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert "Traceback" not in result.output
        with out_csv.open(newline="", encoding="utf-8", errors="surrogateescape") as f:
            rows = list(csv.DictReader(f))
        lines = [json.loads(line) for line in out_json.read_text().splitlines()]
        assert sorted(r["path"] for r in rows) == sorted(x["path"] for x in lines) == found
        flagged, failed = any(x["flagged"] for x in lines), any(x["error"] for x in lines)
        assert result.exit_code == (1 if flagged else 2 if failed else 0), result.output
        if fifo:
            assert next(x for x in lines if x["path"].endswith("pipe.png"))["error"]
