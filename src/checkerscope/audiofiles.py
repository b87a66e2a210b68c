"""Reading and writing sound files (WAV, FLAC) with libsndfile, through ``soundfile``.

Every integer or float format libsndfile decodes (8-bit unsigned to 32-bit integer PCM,
32/64-bit float; WAV, WAVE_EXTENSIBLE, FLAC 8-24 bit), mono or multichannel, at any rate,
becomes a float32 tensor (C, L): integer samples scaled into [-1, 1], float samples kept as
they are. A file that is not audio, is corrupt, or is shorter than its header says raises
``ValueError`` naming the file. Long files are read a window at a time
(:func:`read_windows`), so memory stays flat whatever their length.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterable, Iterator
from typing import NamedTuple

import numpy as np
import soundfile
import torch

from checkerscope import checks as v
from checkerscope.files import atomic_write_bytes

FORMATS = {".wav": "WAV", ".flac": "FLAC"}
"""libsndfile's format name for each file name ending written and read here."""

SUFFIXES = tuple(FORMATS)
"""File name endings of the sound files a folder scan picks up."""

# libsndfile logs "data : <size in header> (should be <size present>)" for a WAV or AIFF file
# cut short, then reads what is there; writers that stream leave 0xFFFFFFFF in that field.
_SHORT_DATA = re.compile(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)
_STREAMED = 0xFFFFFFFF


class AudioInfo(NamedTuple):
    """What a file's header says: ``frames`` per channel, ``channels``, ``sample_rate`` in Hz,
    ``format`` ("WAV", "FLAC", ...) and ``subtype`` ("PCM_16", "FLOAT", ...)."""

    frames: int
    channels: int
    sample_rate: int
    format: str
    subtype: str


class Audio(NamedTuple):
    """A decoded file: ``samples`` float32 (C, L) and ``sample_rate`` in Hz."""

    samples: torch.Tensor
    sample_rate: int


def _open(path: str | os.PathLike[str]) -> soundfile.SoundFile:
    """Open ``path`` for reading, turning libsndfile's errors into ValueError, and refuse
    files cut short."""
    name = os.fspath(path)
    if not os.path.isfile(name):
        raise ValueError(f"audio file {name!r} does not exist or is not a file")
    try:
        f = soundfile.SoundFile(name)
    except (soundfile.SoundFileError, RuntimeError) as err:
        raise ValueError(f"{name!r} is not a WAV or FLAC file libsndfile can read: {err}") from err
    for declared, present in _SHORT_DATA.findall(f.extra_info):
        if int(present) < int(declared) != _STREAMED:
            f.close()
            raise ValueError(
                f"{name!r} is truncated: its header declares {declared} bytes of audio data, "
                f"the file holds {present}"
            )
    if f.frames < 1 or f.channels < 1:
        f.close()
        raise ValueError(f"{name!r} holds no audio ({f.frames} frames, {f.channels} channels)")
    return f


def _read(f: soundfile.SoundFile, frames: int) -> torch.Tensor:
    """Read ``frames`` frames from the current position as float32 (C, frames)."""
    try:
        data = f.read(frames, dtype="float32", always_2d=True)
    except (soundfile.SoundFileError, RuntimeError) as err:
        raise ValueError(f"{f.name!r} is corrupt or truncated: {err}") from err
    if len(data) < frames:
        raise ValueError(
            f"{f.name!r} is corrupt or truncated: its header declares {f.frames} frames, "
            f"decoding stopped {frames - len(data)} frames early"
        )
    return torch.from_numpy(np.ascontiguousarray(data.T))


def audio_info(path: str | os.PathLike[str]) -> AudioInfo:
    """The header of a sound file, without decoding its samples.

    Example:
        >>> import tempfile
        >>> path = tempfile.mktemp(suffix=".flac")
        >>> write_audio(path, torch.zeros(2, 800), 8000, subtype="PCM_24")
        >>> audio_info(path)
        AudioInfo(frames=800, channels=2, sample_rate=8000, format='FLAC', subtype='PCM_24')
    """
    with _open(path) as f:
        return AudioInfo(f.frames, f.channels, f.samplerate, f.format, f.subtype)


def read_audio(path: str | os.PathLike[str], max_frames: int | None = None) -> Audio:
    """Decode a whole WAV or FLAC file to float32 samples (C, L) and its sample rate.

    Integer PCM is scaled by its full scale (16-bit by 32768, unsigned 8-bit centred on 128),
    so it lies in [-1, 1] (only the largest 32-bit codes round up to 1 in float32); float
    files keep their values, NaN included (:func:`~checkerscope.analysis.tones.tone_score`
    scores such a file NaN). ``max_frames`` bounds L before
    anything is decoded: a longer file raises ``ValueError`` (use :func:`read_windows`).

    Example:
        >>> import tempfile
        >>> path = tempfile.mktemp(suffix=".wav")
        >>> write_audio(path, torch.full((1, 4), 0.5), 16000)
        >>> read_audio(path)
        Audio(samples=tensor([[0.5000, 0.5000, 0.5000, 0.5000]]), sample_rate=16000)
    """
    with _open(path) as f:
        if max_frames is not None and f.frames > v.positive_int("max_frames", max_frames):
            raise ValueError(
                f"{f.name!r} has {f.frames} frames, more than max_frames={max_frames}; "
                f"read it in windows"
            )
        return Audio(_read(f, f.frames), f.samplerate)


def read_windows(
    path: str | os.PathLike[str], length: int, starts: Iterable[int]
) -> Iterator[torch.Tensor]:
    """Decode the windows ``[s, s + length)`` of a file, one at a time: float32 (C, length).

    The file stays open between windows and is read by seeking (both WAV and FLAC seek), so
    memory holds one window whatever the file's length; windows may overlap. Pass the starts
    :func:`checkerscope.analysis.welch.tile_starts` gives to score a file window by window
    exactly as the whole signal would be (:func:`checkerscope.analysis.tones.tone_energy`).

    Example:
        >>> import tempfile
        >>> path = tempfile.mktemp(suffix=".wav")
        >>> write_audio(path, torch.arange(10.0)[None] / 16, 8000, subtype="FLOAT")
        >>> [w.tolist() for w in read_windows(path, 2, [0, 8])]
        [[[0.0, 0.0625]], [[0.5, 0.5625]]]
    """
    length = v.positive_int("length", length)
    return _windows(_open(path), length, starts)


def _windows(f: soundfile.SoundFile, length: int, starts: Iterable[int]) -> Iterator[torch.Tensor]:
    with f:
        for start in starts:
            start = v.nonnegative_int("starts", start)
            if start + length > f.frames:
                raise ValueError(
                    f"window [{start}, {start + length}) runs past the end of {f.name!r} "
                    f"({f.frames} frames)"
                )
            f.seek(start)
            yield _read(f, length)


def audio_bytes(
    samples: torch.Tensor, sample_rate: int, format: str = "WAV", subtype: str = "PCM_16"
) -> bytes:
    """Encode float samples (C, L) as a WAV or FLAC file in memory, e.g. for an HTML player.

    Integer subtypes need samples in [-1, 1] (a larger peak raises ``ValueError`` rather than
    wrap around); samples must be finite.

    Example:
        >>> data = audio_bytes(torch.zeros(1, 100), 8000)
        >>> data[:4], data[8:12], len(data)
        (b'RIFF', b'WAVE', 244)
    """
    if not isinstance(samples, torch.Tensor) or samples.dim() != 2 or samples.is_complex():
        shape = tuple(samples.shape) if isinstance(samples, torch.Tensor) else type(samples)
        raise ValueError(f"samples must be a real tensor (C, L), got {shape}")
    if min(samples.shape) < 1:
        raise ValueError(f"samples must not be empty, got shape {tuple(samples.shape)}")
    rate = v.positive_int("sample_rate", sample_rate)
    v.one_of("format", format, tuple(FORMATS.values()))
    v.one_of("subtype", subtype, tuple(soundfile.available_subtypes(format)))
    data = samples.detach().to("cpu", torch.float64).numpy()
    if not np.isfinite(data).all():
        raise ValueError("samples must be finite, got NaN or infinite values")
    peak = float(np.abs(data).max())
    if subtype not in ("FLOAT", "DOUBLE") and peak > 1:
        raise ValueError(
            f"samples peak at {peak:.4g}, beyond the [-1, 1] full scale of {subtype}; "
            f"scale them down or write subtype='FLOAT'"
        )
    buffer = io.BytesIO()
    soundfile.write(buffer, data.T, rate, format=format, subtype=subtype)
    return buffer.getvalue()


def write_audio(
    path: str | os.PathLike[str],
    samples: torch.Tensor,
    sample_rate: int,
    subtype: str = "PCM_16",
) -> None:
    """Write float samples (C, L) to a ``.wav`` or ``.flac`` file, atomically.

    The format follows the suffix; see :func:`audio_bytes` for ``subtype`` and the checks.

    Example:
        >>> import tempfile
        >>> path = tempfile.mktemp(suffix=".flac")
        >>> write_audio(path, torch.zeros(2, 10), 44100)
        >>> audio_info(path).subtype
        'PCM_16'
    """
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    if suffix not in FORMATS:
        raise ValueError(f"path must end in .wav or .flac, got {os.fspath(path)!r}")
    atomic_write_bytes(path, audio_bytes(samples, sample_rate, FORMATS[suffix], subtype))
