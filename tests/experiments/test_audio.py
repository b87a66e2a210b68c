"""The ``audio`` experiment: its network, its measurements against independent computations,
and a tiny quick run (claims, figures, players, --data)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from checkerscope import sounds
from checkerscope.analysis.frequency import upsampler_response
from checkerscope.analysis.spectrograms import average_spectrum
from checkerscope.audiofiles import read_audio, write_audio
from checkerscope.experiments import audio, audio_measures
from checkerscope.experiments import config as C
from checkerscope.experiments.audio_networks import (
    UPSAMPLERS,
    SubPixel1d,
    SuperResolver,
    clip_pairs,
    tone_summary,
    upsampler_1d,
)

from .helpers import assert_effect_sizes, run_quick

TINY = {
    "seeds": 3,
    "channels": 4,
    "steps": 3,
    "batch_size": 2,
    "n_train": 5,
    "seconds": 0.5,
    "crop": 256,
    "train_seconds": 0.5,
    "eval_seconds": 0.5,
}


def test_subpixel_shuffle_interleaves_the_phases() -> None:
    layer = SubPixel1d(3, 2, scale=3)
    x = torch.randn(2, 3, 7)
    conv = layer.conv(x)
    y = layer(x)
    for c in range(2):
        for length in range(7):
            for r in range(3):
                assert y[:, c, 3 * length + r].equal(conv[:, 3 * c + r, length])


@pytest.mark.parametrize("activation", ["none", "LeakyReLU"])
@pytest.mark.parametrize("kind", UPSAMPLERS)
def test_the_super_resolver_doubles_the_rate(kind: str, activation: str) -> None:
    net = SuperResolver(kind, channels=4, activation=activation)
    assert net(torch.randn(3, 1, 50)).shape == (3, 1, 100)
    ups = [m for m in net.modules() if type(m) is type(upsampler_1d(kind, 4))]
    assert len(ups) == 2


def test_an_unknown_upsampler_is_named() -> None:
    with pytest.raises(ValueError, match=r"kind must be one of 'transposed', .* got 'cubic'"):
        upsampler_1d("cubic", 4)


def test_linear_networks_tone_only_through_their_upsamplers() -> None:
    """Without activations the network is linear: interpolation then fixed filters leave no
    tone; transposed and sub-pixel kernels (and biases) of unequal phases buzz."""
    low, _ = clip_pairs(sounds.SoundSource(), 5, 16000, 0.5, seed=3)
    scores = {}
    for kind in UPSAMPLERS:
        torch.manual_seed(0)
        with torch.no_grad():
            scores[kind], _ = tone_summary(SuperResolver(kind, 8, activation="none")(low), 16000)
    assert scores["nearest"] < 6 and scores["linear"] < 6, scores
    assert scores["transposed"] > 12 and scores["subpixel"] > 12, scores


@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_band_attenuation_agrees_with_the_impulse_response(mode: str) -> None:
    """The closed form weighed by the clips' spectrum, against the impulse-measured response
    of ``nn.Upsample`` weighed by the same spectrum (two independent computations), and the
    measurement on the clips against both."""
    low, _ = clip_pairs(sounds.SoundSource(), 5, 16000, 1.0, seed=1)
    high = F.interpolate(low, scale_factor=2, mode=mode)
    measured, closed = audio_measures.band_attenuation(low, high, mode, 16000)
    px = average_spectrum(low, 8000, 512)
    band = (px.frequency >= 2000) & (px.frequency < 4000)
    response = upsampler_response(nn.Upsample(scale_factor=2, mode=mode), 16000, size=512)
    gain = (response.measured[: px.frequency.numel()][band] / 2).square()
    x = px.power.sum(0)[band].double()
    impulse = float(10 * torch.log10(x.sum() / (x * gain).sum()))
    assert closed == pytest.approx(impulse, abs=1e-4)
    assert measured == pytest.approx(closed, abs=audio.TOLERANCE_DB)
    assert (1.0 if mode == "nearest" else 3.0) < closed < (3.0 if mode == "nearest" else 9.1)


def test_impulse_error_is_rounding() -> None:
    assert audio_measures.impulse_error("nearest", 16000, 3) < 1e-12
    assert audio_measures.impulse_error("linear", 16000, 3) < 1e-12


def test_orderings_read_both_ways() -> None:
    assert audio.ordering({"a": 2.0, "b": 1.0, "c": 3.0}) == "c > a > b"
    assert audio.ordering({"a": 2.0, "b": 1.0}, higher_first=False) == "b < a"


def test_audio_quick(tmp_path: Path) -> None:
    results = run_quick(audio.EXPERIMENT, tmp_path, TINY)
    claims = {c["id"]: c for c in results["claims"]}
    assert set(claims) == {
        "audio_tonal_init",
        "audio_filtering",
        "audio_replicas",
        "audio_tonal_trained",
    }
    assert_effect_sizes(claims.values())
    init = claims["audio_tonal_init"]["evidence"]
    assert set(init["per_seed"]["settings"]) == {"none", "LeakyReLU"}
    assert all(len(v) == 3 for v in init["per_seed"]["settings"].values())
    scores = init["tone_score_db_per_seed"]["none"]
    weaker = [min(a, b) for a, b in zip(scores["transposed"], scores["subpixel"], strict=True)]
    louder = [max(a, b) for a, b in zip(scores["nearest"], scores["linear"], strict=True)]
    assert init["per_seed"]["settings"]["none"] == [
        a - b for a, b in zip(weaker, louder, strict=True)
    ]
    filtering = claims["audio_filtering"]
    assert filtering["holds"] is True, filtering["evidence"]["rule_result"]
    replicas = claims["audio_replicas"]["evidence"]["replica_level_db_per_seed"]
    assert all(abs(z) < 0.1 for z in replicas["zeros"])  # s = 2: the mirror holds as much
    trained = claims["audio_tonal_trained"]["evidence"]
    assert set(trained["sdr_db_per_seed"]) == set(C.AUDIO["quick"].trained_variants)
    assert trained["orderings"]["pons_sdr"] == "subpixel > transposed > nearest"
    assert trained["orderings"]["pons_mos"] == "nearest > transposed > subpixel"
    assert trained["audio_source"] == "embedded"
    entry = results["experiments"]["audio"]
    assert len(entry["figures"]) == 5 and len(entry["sounds"]) == 4 + 4
    assert set(entry["captions"]) == {
        audio_name.removeprefix("audio_").rsplit(".", 1)[0]
        for audio_name in entry["figures"] + entry["sounds"]
    }
    target = read_audio(tmp_path / "audio_target.wav")
    assert target.sample_rate == 16000 and target.samples.shape == (1, 8000)
    assert read_audio(tmp_path / "audio_input.wav").sample_rate == 8000


def test_audio_reads_the_users_sounds(tmp_path: Path) -> None:
    """--data: WAV files at 44.1 kHz are excerpted and resampled; the source is recorded."""
    data = tmp_path / "data"
    music = sounds.embedded(44100, 3.0, seed=9)
    for name in ("melody", "chord"):
        write_audio(data / f"{name}.wav", music[name], 44100)
    from checkerscope.experiments.runner import run
    from checkerscope.experiments.settings import RunSettings

    settings = RunSettings(
        "quick", tmp_path / "out", data=data, show_progress=False, overrides={"audio": TINY}
    )
    results = run([audio.EXPERIMENT], settings)
    for claim in results["claims"]:
        assert claim["evidence"]["audio_source"] == str(data), claim["id"]
    assert results["experiments"]["audio"]["audio_source"] == str(data)


def test_a_data_folder_without_sounds_falls_back_to_the_embedded_ones(tmp_path: Path) -> None:
    from PIL import Image

    from checkerscope.experiments.runner import run
    from checkerscope.experiments.settings import RunSettings

    data = tmp_path / "photos"
    data.mkdir()
    Image.new("RGB", (64, 64), "red").save(data / "a.png")
    settings = RunSettings(
        "quick", tmp_path / "out", data=data, show_progress=False, overrides={"audio": TINY}
    )
    results = run([audio.EXPERIMENT], settings)
    source = results["experiments"]["audio"]["audio_source"]
    assert source.startswith("embedded") and "no WAV or FLAC" in source
    assert not math.isnan(results["claims"][0]["evidence"]["effect_size"])
