"""`checkerscope scan` on sounds: WAV and FLAC scored by their tones, the same columns, errors,
exit statuses and streaming as images, long files in flat memory, and the --html page."""

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
import soundfile
import torch
from PIL import Image
from typer.testing import CliRunner

from checkerscope import scan as S
from checkerscope import sounds
from checkerscope.analysis.score import THRESHOLD
from checkerscope.analysis.tones import tone_score
from checkerscope.audiofiles import read_audio, write_audio
from checkerscope.cli import app

FS = 16000
IMAGE_COLUMNS = (
    "path",
    "score_db",
    "period",
    "width",
    "height",
    "block_grid_db",
    "rows_scored",
    "error",
    "where",
    "flagged",
)


def buzzing(x: torch.Tensor, period: int = 4, level: float = 0.01) -> torch.Tensor:
    """``x`` with a pattern repeating every ``period`` samples: tones at fs/period multiples."""
    n = torch.arange(x.shape[-1])
    return x + level * torch.cos(2 * torch.pi * n / period)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sounds")
    music = sounds.embedded(FS, 3.0, seed=2)
    write_audio(root / "mix.wav", music["mix"], FS)  # stereo, 16-bit
    write_audio(root / "speech.flac", music["speech"], FS, subtype="PCM_24")
    write_audio(root / "sub" / "buzz.wav", buzzing(music["melody"]), FS, subtype="FLOAT")
    (root / "sub").mkdir(exist_ok=True)
    write_audio(root / "sub" / "buzz.wav", buzzing(music["melody"]), FS, subtype="FLOAT")
    write_audio(root / "chord8.WAV", music["chord"], FS, subtype="PCM_U8")
    (root / "corrupt.flac").write_bytes(b"fLaC but nothing after it")
    whole = (root / "mix.wav").read_bytes()
    (root / "truncated.wav").write_bytes(whole[: len(whole) // 3])
    (root / "empty.wav").write_bytes(b"")
    Image.fromarray(np.full((32, 32), 128, np.uint8)).save(root / "grey.png")
    return root


SOUNDS = {"mix.wav", "speech.flac", "buzz.wav", "chord8.WAV"}
BROKEN = {"corrupt.flac", "truncated.wav", "empty.wav"}


def run(*args: str) -> object:
    return CliRunner().invoke(app, ["scan", *args])


def test_sounds_are_scored_and_broken_ones_listed(folder: Path) -> None:
    results = {Path(r.path).name: r for r in S.scan([folder], workers=2)}
    assert set(results) == SOUNDS | BROKEN | {"grey.png"}
    for name in BROKEN:
        assert results[name].error and results[name].score_db is None, name
    assert "truncated" in results["truncated.wav"].error
    for name in SOUNDS:
        r = results[name]
        assert r.error is None and r.sample_rate == FS and r.frames == 3 * FS, name
        assert r.width is r.height is r.rows_scored is r.where is r.block_grid_db is None
        assert r.flagged(THRESHOLD) == (name == "buzz.wav"), (name, r.score_db)
    assert results["mix.wav"].channels == 2 and results["speech.flac"].channels == 1
    buzz = results["buzz.wav"]
    assert buzz.period == 4 and buzz.tone_hz == FS / 4  # cos(2 pi n / 4): fs / 4 alone
    assert results["grey.png"].sample_rate is None and results["grey.png"].tone_hz is None


def test_the_streamed_score_is_the_whole_files_score(folder: Path) -> None:
    """Windows read one at a time and their energies summed give the score of the decoded
    file scored at once by the library."""
    for name in ("mix.wav", "speech.flac", "sub/buzz.wav"):
        audio = read_audio(folder / name)
        whole = tone_score(audio.samples, audio.sample_rate)
        streamed = S.score_file(folder / name)
        assert streamed.score_db == pytest.approx(float(whole.score[0]), abs=1e-4), name
        assert streamed.period == whole.strides[int(whole.stride_scores[0].argmax())]


def test_a_long_file_is_scored_as_a_whole(tmp_path: Path) -> None:
    """200,000 samples: seven windows, the last overlapping, as tone_score reads them."""
    rng = np.random.default_rng(1)
    data = 0.1 * rng.standard_normal((200_000, 2))
    data[::8] += 0.02
    path = tmp_path / "long.flac"
    soundfile.write(path, data, 48000, subtype="PCM_24")
    decoded = torch.from_numpy(soundfile.read(path, dtype="float32")[0].T.copy())
    expected = tone_score(decoded, 48000)
    r = S.score_file(path)
    assert r.score_db == pytest.approx(float(expected.score[0]), abs=1e-4)
    # A pulse every 8 samples has every tone of stride 8 at one power: stride 4's lattice
    # (fs / 4, fs / 2) scores the same, up to the noise.
    assert r.period in (4, 8) and r.tone_hz in {48000 * a / r.period for a in range(1, r.period)}
    assert r.flagged(THRESHOLD)


def test_non_finite_samples_are_an_error(tmp_path: Path) -> None:
    data = np.zeros((4000, 1), dtype=np.float32)
    data[100] = np.nan
    soundfile.write(tmp_path / "nan.wav", data, FS, subtype="FLOAT")
    r = S.score_file(tmp_path / "nan.wav")
    assert r.error == "non-finite samples (NaN or infinity)" and r.score_db is None


def test_too_short_a_sound_is_an_error(tmp_path: Path) -> None:
    soundfile.write(tmp_path / "three.wav", np.zeros(3), FS)
    assert "at least 4 samples" in S.score_file(tmp_path / "three.wav").error


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_named_wav_is_refused_without_waiting(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.wav")
    write_audio(tmp_path / "fine.wav", sounds.embedded(FS, 0.5)["chord"], FS)
    results = {Path(r.path).name: r for r in S.scan([tmp_path], workers=1)}
    assert "is a FIFO, not a regular file" in results["pipe.wav"].error
    assert results["fine.wav"].error is None


def test_exit_statuses(folder: Path, tmp_path: Path) -> None:
    assert run(str(folder / "mix.wav"), str(folder / "speech.flac")).exit_code == 0
    assert run(str(folder / "sub")).exit_code == 1  # buzz.wav
    assert run(str(folder)).exit_code == 1
    assert run(str(folder), "--threshold", "100").exit_code == 2  # nothing flagged, 3 errors
    assert run(str(folder / "corrupt.flac")).exit_code == 2


def test_columns_keep_the_image_scans_order_and_add_the_sounds_at_the_end() -> None:
    assert (*IMAGE_COLUMNS, "tone_hz", "sample_rate", "frames", "channels") == S.COLUMNS


def test_csv_and_json_lines(folder: Path, tmp_path: Path) -> None:
    out_csv, out_json = tmp_path / "scan.csv", tmp_path / "scan.jsonl"
    result = run(str(folder), "--csv", str(out_csv), "--json", str(out_json))
    assert result.exit_code == 1, result.output
    assert f"8 files, 1 above {THRESHOLD:g} dB, 3 errors" in result.output
    with out_csv.open(newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames) == S.COLUMNS
        rows = {Path(r["path"]).name: r for r in reader}

    def refuse(constant: str) -> None:
        raise AssertionError(f"bare {constant} in the JSON output")

    lines = [json.loads(x, parse_constant=refuse) for x in out_json.read_text().splitlines()]
    assert len(lines) == len(rows) == 8
    for line in lines:
        assert tuple(line) == S.COLUMNS
        name = Path(line["path"]).name
        if name in SOUNDS:
            assert isinstance(line["score_db"], float) and line["period"] in (2, 4, 8)
            assert line["sample_rate"] == FS and line["frames"] == 3 * FS
            assert line["tone_hz"] is None or line["tone_hz"] % (FS / 8) == 0
            assert line["width"] is None and line["where"] is None
            assert rows[name]["tone_hz"] == (
                "" if line["tone_hz"] is None else str(line["tone_hz"])
            )
        elif name == "grey.png":
            assert line["tone_hz"] is line["sample_rate"] is line["channels"] is None
            assert rows[name]["sample_rate"] == ""
    buzz = next(x for x in lines if x["path"].endswith("buzz.wav"))
    assert buzz["flagged"] is True and buzz["tone_hz"] == 4000.0


def test_the_table_names_the_tone(folder: Path) -> None:
    result = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["scan", str(folder / "sub")])
    assert "tone (Hz)" in result.output and "4000" in result.output
    assert "3.0 s 16000 Hz 1 ch" in result.output


def test_an_output_named_like_a_sound_under_the_scanned_folder_is_refused(
    folder: Path,
) -> None:
    with pytest.raises(ValueError, match="is an input of the scan"):
        S.check_outputs([folder], {"--csv": folder / "new.wav"})


def test_html_page_shows_sounds_as_spectrograms_with_a_player(folder: Path, tmp_path: Path) -> None:
    hostile = tmp_path / "in"
    name = '<audio src=x onerror="alert(1)">.wav'
    write_audio(hostile / name, buzzing(sounds.embedded(FS, 1.0)["melody"]), FS)
    page = tmp_path / "scan.html"
    result = run(str(folder), str(hostile), "--html", str(page), "--top", "10")
    assert result.exit_code == 1, result.output
    html = page.read_text()
    assert "media-src data:" in html  # the policy lets the inlined sounds play, nothing else
    players = html.count('<audio controls preload="none" src="data:audio/wav;base64,')
    assert players == len(SOUNDS) + 1
    assert html.count('alt="spectrogram of sound') == len(SOUNDS) + 1
    assert html.count('alt="score map of image') == 1  # grey.png keeps its thumbnail and map
    assert '<audio src=x onerror="alert(1)">' not in html
    assert "&lt;audio src=x onerror=&#34;alert(1)&#34;&gt;.wav" in html
    assert "tones at multiples of 4000 Hz, the loudest at 4000 Hz" in html


@pytest.mark.slow
def test_a_long_file_is_scored_in_flat_memory(tmp_path: Path) -> None:
    """20 minutes at 16 kHz: 77 MB as float32 decoded whole; scoring it in windows raises the
    process's peak memory by a small fraction of that."""
    path = tmp_path / "long.wav"
    rng = np.random.default_rng(0)
    with soundfile.SoundFile(path, "w", FS, 1, subtype="PCM_16") as f:
        for _ in range(20 * 60):
            f.write((0.1 * rng.standard_normal(FS)).astype(np.float32))
    short = tmp_path / "short.wav"
    soundfile.write(short, 0.1 * rng.standard_normal(4 * 32768), FS)
    code = textwrap.dedent(
        f"""
        import json
        from checkerscope.scan import score_file

        def peak():
            status = open("/proc/self/status").read()
            return int(status.split("VmHWM:")[1].split()[0]) / 1024

        score_file({str(short)!r})  # imports and first allocations
        before = peak()
        r = score_file({str(path)!r})
        print(json.dumps({{"error": r.error, "frames": r.frames, "rise_mb": peak() - before}}))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.splitlines()[-1])
    assert result["error"] is None and result["frames"] == 20 * 60 * FS
    assert result["rise_mb"] < 20, result  # far below the 77 MB of the decoded file
