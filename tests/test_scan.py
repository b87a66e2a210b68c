"""`checkerscope scan`: folders, bad files, exit codes, output schemas, bounded memory."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from typer.testing import CliRunner

from checkerscope import scan as S
from checkerscope.analysis.image_classes import pattern
from checkerscope.analysis.score import THRESHOLD, checkerboard_score
from checkerscope.cli import app
from checkerscope.data import embedded_photographs, random_crops
from checkerscope.images import load_image


def save(array: np.ndarray, path: Path, **kw: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **kw)
    return path


@pytest.fixture(scope="module")
def crops() -> np.ndarray:
    c = random_crops(embedded_photographs(), 4, 96, seed=5)
    return (c.permute(0, 2, 3, 1).numpy() * 0.8 * 255 + 25).round().astype(np.uint8)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory, crops: np.ndarray) -> Path:
    root = tmp_path_factory.mktemp("images")
    save(crops[0], root / "clean.png")
    checker = crops[1] + 10 * pattern("checkerboard", 2, 1, 96, 96, 0)[0, :, :, None].numpy()
    save(checker.clip(0, 255).astype(np.uint8), root / "sub" / "checker.png")
    save(crops[2], root / "sub" / "deep" / "photo.JPG", quality=30)
    save(crops[3], root / "sub" / "photo.webp", lossless=True)
    save(crops[0], root / "clean.tiff")
    save((crops[0].astype(np.uint16) * 257)[..., 0], root / "gray16.png")
    save(crops[3], root / "ignored.gif")
    (root / "notes.txt").write_text("not an image")
    (root / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n but not really")
    (root / "truncated.png").write_bytes((root / "clean.png").read_bytes()[:3000])
    (root / "empty.jpg").write_bytes(b"")
    save(crops[0][:3, :3], root / "tiny.png")
    return root


SCORED = {"clean.png", "checker.png", "photo.JPG", "photo.webp", "clean.tiff", "gray16.png"}
FAILED = {"corrupt.png", "truncated.png", "empty.jpg", "tiny.png"}


def test_scan_scores_every_image_and_lists_bad_files(folder: Path) -> None:
    results = {Path(r.path).name: r for r in S.scan([folder], workers=2)}
    assert set(results) == SCORED | FAILED
    for name in FAILED:
        assert results[name].error and results[name].score_db is None, name
    for name in SCORED:
        r = results[name]
        assert r.error is None and r.width == r.height == r.rows_scored == 96, name
        assert r.flagged(THRESHOLD) == (name == "checker.png"), (name, r.score_db)
    assert results["checker.png"].period == 2
    assert results["photo.JPG"].block_grid_db > 2
    assert all(results[n].block_grid_db is None for n in SCORED - {"photo.JPG"})
    assert "at least 4x4" in results["tiny.png"].error


def test_scan_score_is_the_library_score(folder: Path) -> None:
    for name in ("clean.png", "sub/checker.png", "gray16.png"):
        expected = float(checkerboard_score(load_image(folder / name)))
        assert S.score_file(folder / name).score_db == pytest.approx(expected, abs=1e-3)


def run(*args: str) -> object:
    return CliRunner().invoke(app, ["scan", *args])


def test_exit_codes(folder: Path, tmp_path: Path) -> None:
    assert run(str(folder / "clean.png"), str(folder / "sub" / "photo.webp")).exit_code == 0
    assert run(str(folder), "--workers", "1").exit_code == 1
    assert run(str(folder / "sub")).exit_code == 1  # checker.png
    assert run(str(folder / "sub"), "--threshold", "100").exit_code == 0
    assert run(str(folder), "--threshold", "100").exit_code == 2  # nothing flagged, 4 errors
    # Errors are listed, and a scan that could not read every file does not pass: 2.
    assert run(str(folder / "corrupt.png")).exit_code == 2
    assert run(str(tmp_path / "missing")).exit_code == 2
    assert run(str(folder), "--workers", "0").exit_code == 2
    assert run(str(folder), "--json", "-", "--csv", "-").exit_code == 2
    assert run().exit_code == 2


def test_help_states_the_default_threshold() -> None:
    result = CliRunner().invoke(app, ["scan", "--help"])
    assert f"default: {THRESHOLD:g}," in result.output
    assert f"[default: {S.MAX_PIXELS}]" in result.output


def test_csv_and_json_lines_schemas(folder: Path, tmp_path: Path) -> None:
    out_csv, out_json = tmp_path / "scan.csv", tmp_path / "scan.jsonl"
    result = run(str(folder), "--csv", str(out_csv), "--json", str(out_json), "--top", "3")
    assert result.exit_code == 1, result.output
    assert f"10 files, 1 above {THRESHOLD:g} dB, 4 errors" in result.output
    with out_csv.open(newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames) == S.COLUMNS
        rows = list(reader)
    lines = [json.loads(line) for line in out_json.read_text().splitlines()]
    assert len(rows) == len(lines) == len(SCORED | FAILED)
    for row in lines:
        assert tuple(row) == S.COLUMNS
        assert isinstance(row["path"], str) and isinstance(row["flagged"], bool)
        if row["error"] is None:
            assert isinstance(row["score_db"], float) and row["period"] in (2, 4, 8)
            assert isinstance(row["width"], int) and isinstance(row["height"], int)
            assert row["rows_scored"] == 96
            jpeg = row["path"].endswith(".JPG")
            assert isinstance(row["block_grid_db"], float) if jpeg else row["block_grid_db"] is None
            assert row["flagged"] == (row["score_db"] > THRESHOLD)
        else:
            assert isinstance(row["error"], str) and row["score_db"] is None
            assert not row["flagged"]
    by_path = {r["path"]: r for r in rows}
    for line in lines:
        row = by_path[line["path"]]
        assert row["flagged"] == str(line["flagged"])
        score = "" if line["score_db"] is None else line["score_db"]
        assert row["score_db"] == str(score)


def test_json_lines_to_stdout_keep_the_tables_out(folder: Path) -> None:
    result = run(str(folder / "clean.png"), str(folder / "sub"), "--json", "-")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    names = {Path(r["path"]).name for r in lines}
    assert names == {"clean.png", "checker.png", "photo.JPG", "photo.webp"}


def test_large_files_are_scored_on_a_band(folder: Path, tmp_path: Path, crops: np.ndarray) -> None:
    for name in ("band.png", "band.jpg"):
        path = save(crops[0], tmp_path / name, quality=95)
        r = S.score_file(path, max_pixels=96 * 40)
        assert r.rows_scored == 40 and r.height == 96 and r.error is None
    r = S.score_file(folder / "sub" / "photo.webp", max_pixels=96 * 40)
    assert "cannot be decoded a band of rows" in r.error


def test_map_files_reads_its_input_lazily() -> None:
    consumed = 0

    def files():
        nonlocal consumed
        for i in range(10**6):
            consumed += 1
            yield f"/x/{i}.png"

    results = S.map_files(os.path.basename, files(), workers=1, chunksize=2)
    names = [next(results) for _ in range(5)]
    results.close()
    assert len(names) == 5 and consumed <= 5 + 4 * 1 * 2 + 2


@settings(max_examples=40, deadline=None)
@given(scores=st.lists(st.floats(0, 60) | st.none(), max_size=50), top=st.integers(0, 6))
def test_summary_keeps_the_worst_and_counts(scores: list[float | None], top: int) -> None:
    summary = S.ScanSummary(threshold=12.0, top=top, max_errors=3)
    for i, s in enumerate(scores):
        summary.add(S.ScanResult(str(i), s) if s is not None else S.ScanResult(str(i), error="x"))
    valid = sorted((s for s in scores if s is not None), reverse=True)
    assert [r.score_db for r in summary.worst()] == valid[:top]
    assert summary.scanned == len(scores) and summary.failed == len(scores) - len(valid)
    assert len(summary.errors) == min(3, summary.failed)
    assert summary.flagged == sum(s > 12.0 for s in valid)
    assert summary.exit_code == (1 if summary.flagged else 2 if summary.failed else 0)


@pytest.mark.slow
def test_huge_image_is_scored_on_a_band_with_bounded_memory(tmp_path: Path) -> None:
    """A 12,000 x 12,000 PNG (144 megapixels) is scored on its top band in a fresh process
    whose peak memory stays far below what decoding it whole (and in float) would take."""
    row = (np.arange(12000) % 2 * 40 + np.arange(12000) // 100 % 50).astype(np.uint8)
    path = tmp_path / "huge.png"
    Image.fromarray(np.ascontiguousarray(np.broadcast_to(row, (12000, 12000)))).save(
        path, compress_level=1
    )
    code = textwrap.dedent(
        f"""
        import json
        from checkerscope.scan import score_file
        r = score_file({str(path)!r}, max_pixels=2**24)
        # VmHWM is this process's own peak; ru_maxrss would also count the forked parent's.
        status = open("/proc/self/status").read()
        peak = int(status.split("VmHWM:")[1].split()[0]) / 1024
        print(json.dumps({{"rows": r.rows_scored, "height": r.height, "error": r.error,
                          "score": r.score_db, "peak_mb": peak}}))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.splitlines()[-1])
    assert result["error"] is None and result["height"] == 12000
    assert result["rows"] == 2**24 // 12000 // 8 * 8
    assert result["score"] > THRESHOLD  # the columns alternate
    assert result["peak_mb"] < 1000, result


def test_workers_leave_the_callers_threads_alone() -> None:
    """Workers set one torch thread each; the calling process keeps its own setting."""
    before = torch.get_num_threads()
    list(S.map_files(os.path.basename, ["a", "b"], workers=1))
    assert torch.get_num_threads() == before


# --- issue 12: non-finite pixels, where the energy sits, the HTML page -------------------------


def test_a_float_image_with_a_non_finite_pixel_is_an_error(tmp_path: Path) -> None:
    values = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    for name, bad in (("nan.tiff", np.nan), ("inf.tiff", np.inf)):
        array = values.copy()
        array[3, 5] = bad
        Image.fromarray(array, mode="F").save(tmp_path / name)
    Image.fromarray(values, mode="F").save(tmp_path / "fine.tiff")
    results = {Path(r.path).name: r for r in S.scan([tmp_path], workers=1)}
    for name in ("nan.tiff", "inf.tiff"):
        assert results[name].error == "non-finite pixels (NaN or infinity)"
        assert results[name].score_db is None and not results[name].flagged(THRESHOLD)
    assert results["fine.tiff"].error is None and results["fine.tiff"].where == "lattice"
    # Two files could not be scored and none was flagged: exit status 2.
    out = tmp_path / "scan.jsonl"
    assert run(str(tmp_path), "--json", str(out)).exit_code == 2

    def refuse(constant: str) -> None:
        raise AssertionError(f"bare {constant} in the JSON output")

    rows = [json.loads(line, parse_constant=refuse) for line in out.read_text().splitlines()]
    assert sum(row["error"] is not None for row in rows) == 2


def test_results_say_where_the_energy_sits(folder: Path) -> None:
    results = {Path(r.path).name: r for r in S.scan([folder], workers=1)}
    assert results["checker.png"].where == "lattice"
    assert all(results[n].where in ("lattice", "rows", "columns") for n in SCORED)
    assert all(results[n].where is None for n in FAILED)
    assert "where" in S.COLUMNS


def test_html_page_shows_the_worst_images_and_escapes_their_names(
    folder: Path, crops: np.ndarray, tmp_path: Path
) -> None:
    hostile = tmp_path / "in"
    names = ['<img src=x onerror="alert(1)">.png', "a&b'c.png", "<script>bad().png"]
    for name in names:
        save(crops[1], hostile / name)
    (hostile / "<b>corrupt.png").write_bytes(b"not a png")
    page = tmp_path / "scan.html"
    result = run(str(folder / "sub"), str(hostile), "--html", str(page), "--top", "10")
    assert result.exit_code == 1, result.output  # checker.png is flagged; the page changes nothing
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert html.count('<img src="data:image/png;base64,') == 2 * 6  # thumbnail and map each
    for raw in ('<img src=x onerror="alert(1)">', "<script>bad()", "<b>corrupt"):
        assert raw not in html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;.png" in html
    assert "&lt;b&gt;corrupt.png" in html and "a&amp;b&#39;c.png" in html
    assert "checker.png" in html and "lattice" in html


def test_html_into_a_missing_folder_is_refused_before_scanning(
    folder: Path, tmp_path: Path
) -> None:
    result = run(str(folder), "--html", str(tmp_path / "missing" / "scan.html"))
    assert result.exit_code == 2 and "does not exist" in result.output
