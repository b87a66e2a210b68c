"""Sound files: every format written by soundfile itself reads back exactly, long files stream
a window at a time, and broken files raise a ValueError that names them."""

from __future__ import annotations

import itertools
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from checkerscope import audiofiles as A
from checkerscope.analysis.tones import TILE, tone_energy
from checkerscope.analysis.welch import tile_starts

# (format, subtype, bits): integer PCM is written from int32 samples that the subtype holds
# exactly, so reading must return them divided by 2**31; float is written as float32.
FORMATS = [
    ("WAV", "PCM_U8", 8),
    ("WAV", "PCM_16", 16),
    ("WAV", "PCM_24", 24),
    ("WAV", "PCM_32", 32),
    ("WAV", "FLOAT", None),
    ("WAV", "DOUBLE", None),
    ("FLAC", "PCM_S8", 8),
    ("FLAC", "PCM_16", 16),
    ("FLAC", "PCM_24", 24),
]
CHANNELS = (1, 2, 5)
RATES = (8000, 22050, 44100, 48000)


def samples(frames: int, channels: int, bits: int | None, seed: int = 0) -> np.ndarray:
    """(frames, channels) test samples: int32 multiples of 2**(32 - bits), or float32."""
    rng = np.random.default_rng(seed)
    if bits is None:
        return rng.uniform(-1.5, 1.5, (frames, channels)).astype(np.float32)  # floats pass 1
    codes = rng.integers(-(2 ** (bits - 1)), 2 ** (bits - 1), (frames, channels), dtype=np.int64)
    codes[:2] = [[-(2 ** (bits - 1))], [2 ** (bits - 1) - 1]]  # both ends of the range
    return (codes << (32 - bits)).astype(np.int32)


@pytest.mark.parametrize(("fmt", "subtype", "bits"), FORMATS)
@pytest.mark.parametrize(("channels", "rate"), list(itertools.product(CHANNELS, RATES)))
def test_every_format_reads_back(
    tmp_path: Path, fmt: str, subtype: str, bits: int | None, channels: int, rate: int
) -> None:
    data = samples(1000, channels, bits)
    path = tmp_path / f"x.{fmt.lower()}"
    soundfile.write(path, data, rate, format=fmt, subtype=subtype)
    audio = A.read_audio(path)
    expected = data.T.astype(np.float64) / (2**31 if bits else 1)
    assert audio.samples.dtype == torch.float32 and audio.samples.shape == (channels, 1000)
    assert audio.sample_rate == rate
    np.testing.assert_allclose(audio.samples.numpy(), expected, rtol=1e-7, atol=0)
    if bits:  # float32 rounds the largest 32-bit code, (2**31 - 1) / 2**31, up to 1
        assert audio.samples.min() == -1 and audio.samples.max() <= 1
    info = A.audio_info(path)
    assert info == A.AudioInfo(1000, channels, rate, fmt, subtype)


def test_unsigned_8_bit_is_centred_on_128(tmp_path: Path) -> None:
    path = tmp_path / "u8.wav"
    soundfile.write(path, np.array([[-1.0], [0.0], [0.5]]), 8000, subtype="PCM_U8")
    raw = path.read_bytes()
    start = raw.index(b"data") + 8
    assert raw[start : start + 3] == bytes([0, 128, 192])
    assert A.read_audio(path).samples.tolist() == [[-1.0, 0.0, 0.5]]


def test_float_files_keep_values_beyond_full_scale_and_nan(tmp_path: Path) -> None:
    path = tmp_path / "f.wav"
    soundfile.write(path, np.array([2.5, -3.0, np.nan], dtype=np.float32), 8000, subtype="FLOAT")
    assert A.read_audio(path).samples[0, :2].tolist() == [2.5, -3.0]
    assert A.read_audio(path).samples[0, 2].isnan()


def test_a_streamed_wav_of_unknown_length_is_read(tmp_path: Path) -> None:
    path = tmp_path / "s.wav"
    soundfile.write(path, samples(500, 1, 16), 8000, subtype="PCM_16")
    data = bytearray(path.read_bytes())
    assert data[36:40] == b"data"
    data[4:8] = data[40:44] = struct.pack("<I", 0xFFFFFFFF)  # what a pipe writer leaves
    path.write_bytes(bytes(data))
    assert A.read_audio(path).samples.shape == (1, 500)


@pytest.mark.parametrize("fmt", ["WAV", "FLAC"])
def test_a_long_file_streams_in_windows_and_scores_as_the_whole(tmp_path: Path, fmt: str) -> None:
    rng = np.random.default_rng(0)
    frames = 100_000
    data = (0.1 * rng.standard_normal((frames, 2))).astype(np.float32)
    data[::4] += 0.01
    path = tmp_path / f"long.{fmt.lower()}"
    soundfile.write(path, data, 48000, format=fmt, subtype="PCM_24")
    whole = A.read_audio(path).samples
    starts = tile_starts(frames, TILE)
    windows = list(A.read_windows(path, TILE, starts))
    assert len(windows) == 4
    for start, window in zip(starts, windows, strict=True):
        torch.testing.assert_close(window, whole[:, start : start + TILE], rtol=0, atol=0)
    energy = tone_energy(windows[0], (2, 4, 8), tile=None)
    for window in windows[1:]:
        energy = energy + tone_energy(window, (2, 4, 8), tile=None)
    direct = tone_energy(whole, (2, 4, 8))
    torch.testing.assert_close(energy.peak, direct.peak)
    torch.testing.assert_close(energy.background, direct.background)


def test_windows_take_flat_memory(tmp_path: Path) -> None:
    """30 s at 48 kHz decodes to 5.8 MB of float32; reading it by windows holds about one."""
    path = tmp_path / "long.wav"
    soundfile.write(path, np.zeros((48000 * 30, 1), dtype=np.int16), 48000, subtype="PCM_16")
    tracemalloc.start()
    try:
        for window in A.read_windows(path, TILE, tile_starts(48000 * 30, TILE)):
            assert window.shape == (1, TILE)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * TILE * 4  # a few windows of float32, far below the 5.8 MB file


def test_window_errors_are_named(tmp_path: Path) -> None:
    path = tmp_path / "x.wav"
    soundfile.write(path, np.zeros(100), 8000)
    with pytest.raises(
        ValueError, match=r"window \[90, 110\) runs past the end of .* \(100 frames"
    ):
        list(A.read_windows(path, 20, [0, 90]))
    with pytest.raises(ValueError, match="starts must be a non-negative integer, got -1"):
        list(A.read_windows(path, 20, [-1]))
    with pytest.raises(ValueError, match="length must be a positive integer, got 0"):
        A.read_windows(path, 0, [0])


def test_max_frames(tmp_path: Path) -> None:
    path = tmp_path / "x.flac"
    soundfile.write(path, np.zeros(100), 8000)
    assert A.read_audio(path, max_frames=100).samples.shape == (1, 100)
    with pytest.raises(ValueError, match="has 100 frames, more than max_frames=99; read it in"):
        A.read_audio(path, max_frames=99)


def wav_cut(path: Path, keep: float) -> None:
    soundfile.write(path, samples(4000, 2, 16), 16000, subtype="PCM_16")
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def flac_cut(path: Path, keep: float) -> None:
    soundfile.write(path, samples(40000, 2, 16), 16000, format="FLAC")
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


@pytest.mark.parametrize(
    ("name", "make", "message"),
    [
        (
            "text.wav",
            lambda p: p.write_text("hello " * 100),
            "is not a WAV or FLAC file libsndfile",
        ),
        ("empty.flac", lambda p: p.write_bytes(b""), "is not a WAV or FLAC file libsndfile"),
        ("image.wav", lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200)), "is not a WAV"),
        ("half.wav", lambda p: wav_cut(p, 0.5), "is truncated: its header declares 16000 bytes"),
        ("header.wav", lambda p: wav_cut(p, 30 / 16044), "is not a WAV or FLAC file"),
        ("half.flac", lambda p: flac_cut(p, 0.5), "is corrupt or truncated"),
        ("dir.wav", lambda p: p.mkdir(), "does not exist or is not a file"),
        ("missing.wav", lambda p: None, "does not exist or is not a file"),
    ],
)
def test_broken_files_raise_value_errors_naming_them(
    tmp_path: Path, name: str, make: object, message: str
) -> None:
    path = tmp_path / name
    make(path)  # type: ignore[operator]
    with pytest.raises(ValueError, match=message) as err:
        A.read_audio(path)
    assert name in str(err.value)


@pytest.mark.parametrize(
    ("suffix", "subtype"), [(".wav", "PCM_16"), (".wav", "FLOAT"), (".flac", "PCM_24")]
)
def test_written_files_read_back(tmp_path: Path, suffix: str, subtype: str) -> None:
    x = torch.rand(2, 500, generator=torch.Generator().manual_seed(0)) * 2 - 1
    path = tmp_path / f"out{suffix}"
    A.write_audio(path, x, 22050, subtype=subtype)
    back = A.read_audio(path)
    step = {"PCM_16": 2**-15, "PCM_24": 2**-23, "FLOAT": 0}[subtype]
    torch.testing.assert_close(back.samples, x, atol=step, rtol=0)
    assert back.sample_rate == 22050 and A.audio_info(path).subtype == subtype
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_wav_bytes_are_a_wav_file() -> None:
    data = A.audio_bytes(torch.zeros(2, 100), 8000)
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE" and len(data) == 44 + 2 * 2 * 100
    assert A.audio_bytes(torch.full((1, 3), 2.0), 8000, subtype="FLOAT")[:4] == b"RIFF"


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((torch.zeros(100), 8000), {}, r"samples must be a real tensor \(C, L\), got \(100,\)"),
        ((torch.zeros(1, 0), 8000), {}, r"samples must not be empty, got shape \(1, 0\)"),
        ((torch.zeros(1, 9), 0), {}, "sample_rate must be a positive integer, got 0"),
        ((torch.zeros(1, 9), 8000), {"format": "MP3"}, "format must be one of 'WAV', 'FLAC'"),
        ((torch.zeros(1, 9), 8000), {"subtype": "PCM_99"}, "subtype must be one of"),
        (
            (torch.full((1, 9), 1.5), 8000),
            {},
            "samples peak at 1.5, beyond the .* of PCM_16; scale",
        ),
        ((torch.full((1, 9), torch.nan), 8000), {}, "samples must be finite"),
    ],
)
def test_bad_samples_are_named(args: tuple, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        A.audio_bytes(*args, **kwargs)


def test_write_needs_a_sound_suffix(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"path must end in .wav or .flac, got '.*x.mp3'"):
        A.write_audio(tmp_path / "x.mp3", torch.zeros(1, 9), 8000)
