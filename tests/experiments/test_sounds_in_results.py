"""Sounds an experiment returns: written as WAV beside results.json, captioned, played in the
report; and ``--data`` folders of sounds, checked before any work."""

from __future__ import annotations

import base64
import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from PIL import Image

from checkerscope.audiofiles import Audio, read_audio, write_audio
from checkerscope.data import ImageSource
from checkerscope.experiments.decision import Claim, Effect, Exact
from checkerscope.experiments.runner import (
    Context,
    Experiment,
    ExperimentError,
    ExperimentResult,
    check_data,
    run,
)
from checkerscope.experiments.settings import RunSettings
from checkerscope.report import reproduce_page


@dataclasses.dataclass(frozen=True)
class Nothing:
    pass


CONFIGS = {scale: Nothing() for scale in ("quick", "default", "full")}
TONE = torch.sin(2 * torch.pi * 440 * torch.arange(8000) / 8000)[None]


def experiment(result: ExperimentResult, calls: list[str] | None = None) -> Experiment:
    def go(ctx: Context) -> ExperimentResult:
        if calls is not None:
            calls.append("ran")
        ctx.decide("s_ok", checks={"ran": True}, effect=1.0)
        return result

    claim = Claim("s_ok", "It ran.", Effect("ran", ""), Exact())
    return Experiment("s", "Sounds", (claim,), CONFIGS, go)


def quick(out: Path, exp: Experiment, data: Path | None = None) -> dict:
    run([exp], RunSettings("quick", out, data=data, show_progress=False))
    return json.loads((out / "results.json").read_text())


def test_sounds_are_written_listed_and_played_in_the_report(tmp_path: Path) -> None:
    loud = Audio(3 * TONE, 8000)  # beyond full scale: scaled down to fit 16 bits
    result = ExperimentResult(
        {}, sounds={"tone": Audio(0.5 * TONE, 8000), "loud": loud},
        captions={"tone": "Listen: 440 Hz.", "loud": "Listen: louder."},
    )  # fmt: skip
    results = quick(tmp_path, experiment(result))
    entry = results["experiments"]["s"]
    assert entry["sounds"] == ["s_tone.wav", "s_loud.wav"] and entry["figures"] == []
    tone = read_audio(tmp_path / "s_tone.wav")
    assert tone.sample_rate == 8000 and soundfile.info(tmp_path / "s_tone.wav").subtype == "PCM_16"
    torch.testing.assert_close(tone.samples, 0.5 * TONE, atol=1 / 2**15, rtol=0)
    assert float(read_audio(tmp_path / "s_loud.wav").samples.abs().max()) == pytest.approx(1, 1e-3)
    page = reproduce_page.build(tmp_path).read_text()
    assert "media-src data:" in page
    players = re.findall(
        r'<audio [^>]*src="data:audio/wav;base64,([^"]*)" data-file="([^"]*)"', page
    )
    assert [name for _, name in players] == entry["sounds"]
    for encoded, name in players:
        assert base64.b64decode(encoded) == (tmp_path / name).read_bytes(), name
    assert "Listen: 440 Hz." in page and "Listen: louder." in page


def test_a_sound_listed_but_missing_is_named(tmp_path: Path) -> None:
    result = ExperimentResult({}, sounds={"tone": Audio(TONE, 8000)}, captions={"tone": "x"})
    quick(tmp_path, experiment(result))
    (tmp_path / "s_tone.wav").unlink()
    page = reproduce_page.build(tmp_path).read_text()
    assert "Sound s_tone.wav is listed in results.json but missing" in page
    assert "<audio" not in page


def test_every_sound_needs_a_caption_and_its_own_name(tmp_path: Path) -> None:
    bare = ExperimentResult({}, sounds={"tone": Audio(TONE, 8000)})
    with pytest.raises(ExperimentError, match=r"without a caption: \['tone'\]"):
        quick(tmp_path / "a", experiment(bare))
    from matplotlib.figure import Figure

    twice = ExperimentResult(
        {}, {"tone": Figure()}, {"tone": "both"}, sounds={"tone": Audio(TONE, 8000)}
    )
    with pytest.raises(ExperimentError, match=r"names a figure and a sound \['tone'\]"):
        quick(tmp_path / "b", experiment(twice))


def test_data_may_be_a_folder_of_sounds(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_audio(data / "a.wav", 0.5 * TONE, 8000)
    write_audio(data / "deep" / "b.flac", 0.5 * TONE, 8000)
    calls: list[str] = []
    results = quick(tmp_path / "out", experiment(ExperimentResult({}), calls), data=data)
    assert calls == ["ran"] and results["environment"]["data"] == str(data)


def test_bad_or_missing_data_stops_the_run_before_any_work(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("neither")
    with pytest.raises(ValueError, match=r"holds no image files .* and no sound files"):
        check_data(ImageSource(empty))
    broken = tmp_path / "broken"
    write_audio(broken / "good.wav", 0.5 * TONE, 8000)
    whole = (broken / "good.wav").read_bytes()
    (broken / "cut.wav").write_bytes(whole[: len(whole) // 2])
    calls: list[str] = []
    with pytest.raises(ValueError, match=r"cut\.wav' is truncated"):
        quick(tmp_path / "out", experiment(ExperimentResult({}), calls), data=broken)
    assert calls == []
    mixed = tmp_path / "mixed"
    write_audio(mixed / "good.wav", 0.5 * TONE, 8000)
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(mixed / "x.png")
    (mixed / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(ValueError, match=r"bad\.png"):
        check_data(ImageSource(mixed))
