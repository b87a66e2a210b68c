"""SoundSource: the embedded sounds or a folder's WAV and FLAC files, as clips experiments read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from checkerscope import sounds
from checkerscope.analysis.spectrograms import average_spectrum
from checkerscope.audiofiles import write_audio
from checkerscope.sounds import SoundSource, resample


def test_embedded_clips_cycle_through_the_sounds_and_redraw_every_five() -> None:
    clips = SoundSource().clips(7, 8000, 0.5, seed=2)
    assert clips.shape == (7, 1, 4000) and clips.dtype == torch.float32
    assert torch.allclose(clips.abs().amax(-1), torch.full((7, 1), sounds.PEAK))
    again = SoundSource().clips(7, 8000, 0.5, seed=2)
    assert torch.equal(clips, again)
    other = SoundSource().clips(7, 8000, 0.5, seed=3)
    assert not torch.equal(clips, other)
    first = SoundSource().clips(5, 8000, 0.5, seed=2)
    assert torch.equal(first, clips[:5])  # the same five sounds, then a new draw of them
    assert not torch.equal(clips[5], clips[0])


def test_resample_keeps_a_tone_and_removes_what_the_new_rate_cannot_hold() -> None:
    t = np.arange(44100) / 44100
    x = np.sin(2 * np.pi * 1000 * t) + np.sin(2 * np.pi * 12000 * t)
    y = resample(x, 44100, 16000)
    assert y.shape == (16000,)
    spectrum = average_spectrum(torch.from_numpy(y)[None], 16000, 1600)
    power = dict(zip(spectrum.frequency.tolist(), spectrum.decibels[0].tolist(), strict=True))
    assert power[1000.0] == pytest.approx(-3.0, abs=0.1)  # a unit sine: -3 dB
    assert max(power.values()) == power[1000.0]  # 12 kHz is above 8 kHz: filtered, not aliased
    assert power[4000.0] < -60  # where 12 kHz would alias (16 - 12) is empty


def test_a_folder_gives_excerpts_resampled_to_the_asked_rate(tmp_path: Path) -> None:
    music = sounds.embedded(22050, 2.0, seed=4)
    write_audio(tmp_path / "a.wav", music["mix"], 22050)  # stereo: averaged
    write_audio(tmp_path / "sub" / "b.flac", music["speech"], 22050, subtype="PCM_24")
    write_audio(tmp_path / "short.wav", music["chord"][:, :2000], 22050)
    source = SoundSource(tmp_path)
    assert source.source == str(tmp_path) and source.check() == 3
    assert [p.name for p in source.files()] == ["a.wav", "short.wav", "b.flac"]
    clips = source.clips(6, 8000, 1.0, seed=0)
    assert clips.shape == (6, 1, 8000)
    assert torch.allclose(clips.abs().amax(-1), torch.full((6, 1), sounds.PEAK))
    assert torch.equal(clips, source.clips(6, 8000, 1.0, seed=0))
    with pytest.raises(ValueError, match=r"no sound file in data .* is at least 3 s long"):
        source.clips(1, 8000, 3.0, seed=0)


def test_a_broken_file_in_the_folder_is_named(tmp_path: Path) -> None:
    write_audio(tmp_path / "good.wav", sounds.embedded(8000, 1.0)["chord"], 8000)
    whole = (tmp_path / "good.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ValueError, match=r"cut\.wav' is truncated"):
        SoundSource(tmp_path).check()
    with pytest.raises(ValueError, match="data must be a folder of sounds"):
        SoundSource(tmp_path / "good.wav")
