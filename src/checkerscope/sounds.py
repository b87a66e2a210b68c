"""Embedded sounds: music- and speech-like signals made from a seed, so nothing is downloaded.

Harmonic notes and chords with ADSR envelopes and vibrato, drum-like noise bursts, and
speech-like vowels from the source-filter model (a glottal pulse train through formant
resonators; Klatt 1980, "Software for a cascade/parallel formant synthesizer", JASA 67).
Every frequency is drawn in Hz and every duration in seconds, then rendered at the asked rate
without aliasing (harmonics above 0.45 fs are left out; the voice is rendered at four times
the rate and decimated), so one seed plays the same notes at 8 kHz as at 48 kHz, less their
top band (noise, in the drums and the voice, is drawn per sample). :func:`embedded` is the
default audio of the tone measurements; :class:`SoundSource` is what experiments learn from:
these sounds, or the WAV and FLAC files of a folder of the user's.
"""

from __future__ import annotations

import math
import os
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

import numpy as np
import scipy.signal
import torch

from checkerscope import checks as v
from checkerscope.audiofiles import SUFFIXES, AudioInfo, audio_info, read_windows
from checkerscope.images import iter_files

NAMES = ("chord", "melody", "drums", "speech", "mix")
"""The sounds :func:`embedded` returns; "mix" is stereo (melody, chord and drums panned)."""

PEAK = 0.5
"""Peak amplitude of every embedded sound (-6 dBFS), leaving room for planted patterns."""

MIN_RATE = 4000.0
"""Lowest sample rate: its 2 kHz band holds the first two formants of most vowels."""

_TOP = 0.45  # harmonics and resonances stay below this fraction of the sample rate
_VOWELS = {  # formant frequencies F1-F3 in Hz (Peterson & Barney 1952, adult male)
    "a": (730, 1090, 2440),
    "e": (530, 1840, 2480),
    "i": (270, 2290, 3010),
    "o": (570, 840, 2410),
    "u": (300, 870, 2240),
}
_BANDWIDTHS = (60.0, 90.0, 150.0, 200.0, 250.0)
_UPPER_FORMANTS = (3300.0, 3750.0)
_SCALE = (0, 2, 4, 7, 9)  # major pentatonic, in semitones


def adsr(
    length: int,
    sample_rate: float,
    attack: float = 0.01,
    decay: float = 0.1,
    sustain: float = 0.6,
    release: float = 0.1,
) -> torch.Tensor:
    """An attack-decay-sustain-release envelope of ``length`` samples: (L,) float64 in [0, 1].

    Linear rise to 1 over ``attack`` seconds, linear fall to ``sustain`` over ``decay``, held,
    all scaled by a linear fall from 1 to 0 over the last ``release`` seconds (so a short note
    is released from wherever it is).

    Example:
        >>> e = adsr(100, sample_rate=100, attack=0.1, decay=0.1, sustain=0.5, release=0.2)
        >>> float(e[10]), float(e[50]), float(e[-1])
        (1.0, 0.5, 0.0)
    """
    length = v.positive_int("length", length)
    fs = v.positive_number("sample_rate", sample_rate)
    if not 0 <= sustain <= 1:
        raise ValueError(f"sustain must be a level between 0 and 1, got {sustain!r}")
    for name, value in (("attack", attack), ("decay", decay), ("release", release)):
        if not 0 <= value < math.inf:
            raise ValueError(f"{name} must be a duration >= 0 in seconds, got {value!r}")
    t = np.arange(length) / fs
    return torch.from_numpy(_envelope(t, (length - 1) / fs, attack, decay, sustain, release))


def _envelope(
    t: np.ndarray, duration: float, attack: float, decay: float, sustain: float, release: float
) -> np.ndarray:
    """:func:`adsr` at times ``t`` (seconds from the note's start) of a note ending at
    ``duration``."""
    rise = np.clip(t / attack, 0, 1) if attack > 0 else np.ones_like(t)
    after = t - attack
    fall = 1 - (1 - sustain) * (np.clip(after / decay, 0, 1) if decay > 0 else after >= 0)
    tail = np.clip((duration - t) / release, 0, 1) if release > 0 else np.ones_like(t)
    return np.where(t < attack, rise, fall) * tail


def harmonic_note(
    frequency: float,
    length: int,
    sample_rate: float,
    *,
    harmonics: int = 16,
    rolloff: float = 1.0,
    vibrato_hz: float = 5.0,
    vibrato_cents: float = 0.0,
    seed: int = 0,
) -> torch.Tensor:
    """A harmonic tone with vibrato: (L,) float64, peak at most 1.

    Harmonic ``k`` has amplitude ``k**-rolloff`` over the sum of all ``harmonics`` amplitudes
    and a random phase (from ``seed``); the frequency swings sinusoidally at ``vibrato_hz`` up
    to ``vibrato_cents`` above ``frequency`` and as far below. Harmonics whose highest
    instantaneous frequency passes ``0.45 * sample_rate`` are left out, so nothing aliases
    and the others sound as loud at every rate.

    Example:
        >>> x = harmonic_note(1000.0, 8000, sample_rate=8000, harmonics=8)
        >>> spectrum = torch.fft.rfft(x).abs()  # 1 Hz bins: harmonics 1000, 2000, 3000 only
        >>> sorted(spectrum.topk(3).indices.tolist())
        [1000, 2000, 3000]
    """
    f0 = v.positive_number("frequency", frequency)
    length = v.positive_int("length", length)
    fs = v.positive_number("sample_rate", sample_rate)
    harmonics = v.positive_int("harmonics", harmonics)
    t = np.arange(length) / fs
    return torch.from_numpy(
        _partials(t, fs, f0, harmonics, rolloff, vibrato_hz, vibrato_cents, seed)
    )


def _partials(
    t: np.ndarray,
    fs: float,
    f0: float,
    harmonics: int,
    rolloff: float,
    vibrato_hz: float,
    vibrato_cents: float,
    seed: int,
) -> np.ndarray:
    """:func:`harmonic_note` at times ``t`` (seconds from the note's start, not necessarily
    on the sample grid), so a note sounds the same wherever the samples fall."""
    rng = np.random.default_rng(seed)
    phases = rng.uniform(0, 2 * np.pi, harmonics)
    swing = 2 ** (vibrato_cents / 1200)
    # Instantaneous frequency f0 * (1 + (swing - 1) sin(2 pi v t)), integrated in closed form.
    wobble = np.zeros_like(t)
    if vibrato_hz > 0:
        wobble = (swing - 1) * (1 - np.cos(2 * np.pi * vibrato_hz * t)) / (2 * np.pi * vibrato_hz)
    phase = 2 * np.pi * f0 * (t + wobble)
    amplitudes = np.arange(1, harmonics + 1, dtype=np.float64) ** -rolloff
    out = np.zeros_like(t)
    for k in range(1, harmonics + 1):
        if k * f0 * swing >= _TOP * fs:
            break
        out += amplitudes[k - 1] * np.sin(k * phase + phases[k - 1])
    return out / amplitudes.sum()


def _midi(note: float) -> float:
    return 440.0 * 2 ** ((note - 69) / 12)


class _Note(NamedTuple):
    """A note from ``start`` to ``stop`` seconds: pitch in Hz, timbre and envelope."""

    start: float
    stop: float
    frequency: float
    harmonics: int
    rolloff: float
    vibrato_hz: float
    vibrato_cents: float
    envelope: tuple[float, float, float, float]  # attack, decay, sustain, release


def _play(out: np.ndarray, fs: float, note: _Note, seed: int) -> None:
    """Add ``note`` to ``out`` at the exact times of the samples it covers, so that it does
    not depend on the rate."""
    first, last = math.ceil(note.start * fs), min(math.ceil(note.stop * fs), len(out))
    t = np.arange(first, last) / fs - note.start
    tone = _partials(
        t, fs, note.frequency, note.harmonics, note.rolloff, note.vibrato_hz,
        note.vibrato_cents, seed,
    )  # fmt: skip
    out[first:last] += tone * _envelope(t, note.stop - note.start, *note.envelope)


def _chord(rng: np.random.Generator, length: int, fs: float) -> np.ndarray:
    """Two chords (a triad and a seventh) from a random root, each note with its envelope."""
    out = np.zeros(length)
    half, end = length / fs / 2, length / fs
    root = rng.integers(48, 60)
    for start, stop, intervals in ((0.0, half, (0, 4, 7)), (half, end, (0, 3, 7, 10))):
        shift = rng.choice((0, 5, 7))
        for interval in intervals:
            pitch = _midi(root + shift + interval + rng.uniform(-0.05, 0.05))
            note = _Note(start, stop, pitch, 12, 1.5, rng.uniform(4, 6), 3.0, (0.02, 0.3, 0.5, 0.2))
            _play(out, fs, note, int(rng.integers(2**31)))
    return out


def _melody(rng: np.random.Generator, length: int, fs: float) -> np.ndarray:
    """A pentatonic line of notes of 0.12-0.45 s, each with vibrato and an ADSR envelope."""
    out = np.zeros(length)
    start, base = 0.0, rng.integers(60, 72)
    while start < length / fs:
        stop = start + rng.uniform(0.12, 0.45)
        pitch = _midi(base + _SCALE[rng.integers(len(_SCALE))] + 12 * rng.integers(0, 2))
        vibrato = (rng.uniform(4.5, 6.5), rng.uniform(10, 30))
        note = _Note(start, stop, pitch, 10, 1.2, *vibrato, (0.01, 0.08, 0.7, 0.05))
        _play(out, fs, note, int(rng.integers(2**31)))
        start = stop
    return out


def _resonate(x: np.ndarray, frequency: float, bandwidth: float, fs: float) -> np.ndarray:
    """Klatt's two-pole resonator with unit gain at DC."""
    c = -math.exp(-2 * math.pi * bandwidth / fs)
    b = 2 * math.exp(-math.pi * bandwidth / fs) * math.cos(2 * math.pi * frequency / fs)
    return scipy.signal.lfilter([1 - b - c], [1, -b, -c], x)


def _drums(rng: np.random.Generator, length: int, fs: float) -> np.ndarray:
    """Kick (a falling sine), snare (a resonant noise burst) and hi-hat (differenced noise)
    on an eighth-note grid at 100-130 beats per minute."""
    out = np.zeros(length)
    step = int(60 / rng.uniform(100, 130) / 2 * fs)
    for i, start in enumerate(range(0, length, max(step, 1))):
        n = min(length - start, int(0.3 * fs))
        t = np.arange(n) / fs
        if i % 4 == 0:
            sweep = 2 * np.pi * (50 * t + 100 * 0.04 * (1 - np.exp(-t / 0.04)))
            hit = np.sin(sweep) * np.exp(-t / 0.12)
        elif i % 4 == 2:
            noise = _resonate(rng.standard_normal(n), min(1800.0, _TOP * fs), 1500.0, fs)
            hit = 0.3 * noise / (np.abs(noise).max() + 1e-12) * np.exp(-t / 0.08)
        else:
            hit = 0.5 * np.diff(rng.standard_normal(n + 1)) * np.exp(-t / 0.02)
        out[start : start + n] += hit * rng.uniform(0.6, 1.0)
    return out


def _glottal_pulses(phase: np.ndarray) -> np.ndarray:
    """Rosenberg's glottal flow (opening 40% of a period, closing 16%) at ``phase`` in cycles,
    differenced for the radiation at the lips."""
    p = phase % 1.0
    opening, closing = 0.4, 0.16
    flow = np.where(
        p < opening,
        0.5 * (1 - np.cos(np.pi * p / opening)),
        np.where(p < opening + closing, np.cos(np.pi * (p - opening) / (2 * closing)), 0.0),
    )
    return np.diff(flow, prepend=flow[0])


def _speech(rng: np.random.Generator, length: int, fs: float) -> np.ndarray:
    """Syllables of vowels (glottal pulses, aspiration, five formants) with a falling pitch,
    some opened by a fricative hiss, separated by short pauses; rendered at 4 fs."""
    up = 4
    rate, n = up * fs, up * length
    out = np.zeros(n)
    f0_start, f0_end = rng.uniform(100, 140), rng.uniform(80, 100)
    start = int(rng.uniform(0.02, 0.1) * rate)
    while start < n:
        m = min(n - start, int(rng.uniform(0.15, 0.35) * rate))
        t = (start + np.arange(m)) / n
        f0 = (f0_start + (f0_end - f0_start) * t) * 2 ** (np.cumsum(rng.normal(0, 0.3, m)) / 1200)
        source = _glottal_pulses(np.cumsum(f0) / rate) + 0.02 * rng.standard_normal(m)
        formants = (*_VOWELS[rng.choice(list(_VOWELS))], *_UPPER_FORMANTS)
        voice = source
        for frequency, bandwidth in zip(formants, _BANDWIDTHS, strict=True):
            voice = _resonate(voice, frequency, bandwidth, rate)
        voice = voice / (np.abs(voice).max() + 1e-12)
        if rng.uniform() < 0.4:
            k = min(m, int(0.08 * rate))
            hiss = _resonate(rng.standard_normal(k), min(5500.0, _TOP * fs), 3000.0, rate)
            voice[:k] += 0.3 * hiss / (np.abs(hiss).max() + 1e-12)
        out[start : start + m] = voice * adsr(m, rate, 0.02, 0.05, 0.8, 0.04).numpy()
        start += m + int(rng.uniform(0.03, 0.15) * rate)
    return scipy.signal.resample_poly(out, 1, up)[:length]


def embedded(
    sample_rate: float = 16000, seconds: float = 2.0, seed: int = 0
) -> dict[str, torch.Tensor]:
    """The embedded sounds, made from ``seed``: name -> float32 (C, L), L = round(seconds * fs).

    Names as in :data:`NAMES`: "chord" (a triad then a seventh chord), "melody" (pentatonic
    notes with vibrato), "drums" (kick, snare and hi-hat noise bursts), "speech" (vowel-like
    syllables), each mono, and "mix" (stereo). Each has a peak of :data:`PEAK`. The same
    arguments give the same samples on every machine.

    Example:
        >>> sounds = embedded(sample_rate=8000, seconds=0.5)
        >>> {name: tuple(x.shape) for name, x in sounds.items()}["mix"]
        (2, 4000)
    """
    fs = v.positive_number("sample_rate", sample_rate)
    if fs < MIN_RATE:
        raise ValueError(f"sample_rate must be at least {MIN_RATE:g} Hz, got {sample_rate!r}")
    length = round(v.positive_number("seconds", seconds) * fs)
    if length < 1:
        raise ValueError(f"seconds must hold at least one sample at {fs:g} Hz, got {seconds!r}")
    seed = v.nonnegative_int("seed", seed)
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4)]
    parts = {
        "chord": _chord(streams[0], length, fs),
        "melody": _melody(streams[1], length, fs),
        "drums": _drums(streams[2], length, fs),
        "speech": _speech(streams[3], length, fs),
    }
    parts = {name: x / (np.abs(x).max() + 1e-12) for name, x in parts.items()}
    left = 0.6 * parts["melody"] + 0.4 * parts["chord"] + 0.5 * parts["drums"]
    right = 0.3 * parts["melody"] + 0.7 * parts["chord"] + 0.5 * parts["drums"]
    sounds = {name: x[None] for name, x in parts.items()} | {"mix": np.stack([left, right])}
    return {
        name: torch.from_numpy(PEAK * x / (np.abs(x).max() + 1e-12)).float()
        for name, x in sounds.items()
    }


CHUNK = 2**20
"""Frames per piece when a folder's files are decoded through to check them (flat memory)."""


def resample(x: np.ndarray, old_rate: float, new_rate: float) -> np.ndarray:
    """Band-limited resampling of ``x`` (..., L) from ``old_rate`` to ``new_rate`` Hz (integer
    rates): :func:`scipy.signal.resample_poly` by the reduced ratio, its anti-aliasing filter
    included; the length becomes ``ceil(L * new / old)``.

    Example:
        >>> resample(np.ones(441), 44100, 16000).shape
        (160,)
    """
    ratio = Fraction(round(new_rate), round(old_rate))
    if ratio == 1:
        return np.asarray(x, dtype=np.float64)
    return scipy.signal.resample_poly(x, ratio.numerator, ratio.denominator, axis=-1)


def _normalised(x: np.ndarray) -> torch.Tensor:
    """Mono (L,) float64 as float32 (1, L) with a peak of :data:`PEAK` (silence stays zero)."""
    peak = float(np.abs(x).max()) if x.size else 0.0
    return torch.from_numpy(PEAK * x / peak if peak > 0 else x).float()[None]


class SoundSource:
    """The sounds experiments learn from: the embedded ones, or every WAV and FLAC file in a folder.

    ``folder=None`` takes :func:`embedded` sounds; a folder takes every file with a suffix of
    :data:`checkerscope.audiofiles.SUFFIXES` under it (recursively, sorted). ``clips(n,
    sample_rate, seconds, seed)`` gives ``n`` deterministic mono excerpts (n, 1, L) at
    ``sample_rate``, each scaled to a peak of :data:`PEAK`: from the embedded sounds, the five
    of :data:`NAMES` in turn (the stereo mix averaged), a new draw of music and voice every
    five clips; from a folder, a file drawn uniformly among those long enough, a start drawn
    uniformly, the excerpt read alone (:func:`~checkerscope.audiofiles.read_windows`), its
    channels averaged and resampled to ``sample_rate`` (:func:`resample`).

    Example:
        >>> SoundSource().clips(3, sample_rate=8000, seconds=0.25, seed=0).shape
        torch.Size([3, 1, 2000])
    """

    def __init__(self, folder: str | os.PathLike[str] | None = None) -> None:
        if folder is not None and not Path(folder).is_dir():
            raise ValueError(f"data must be a folder of sounds, got {os.fspath(folder)!r}")
        self.folder = None if folder is None else Path(folder)

    @property
    def source(self) -> str:
        """``"embedded"``, or the folder the sounds come from."""
        return "embedded" if self.folder is None else str(self.folder)

    def files(self) -> list[Path]:
        """The folder's sound files, sorted (none for the embedded sounds)."""
        return [] if self.folder is None else sorted(iter_files([self.folder], SUFFIXES))

    def check(self) -> int:
        """Decode every file of the folder through, a piece at a time; return how many there
        are. A file that cannot be decoded raises ``ValueError`` naming it."""
        files = self.files()
        for path in files:
            frames = audio_info(path).frames
            whole, rest = divmod(frames, CHUNK)
            for _ in read_windows(path, CHUNK, range(0, whole * CHUNK, CHUNK)):
                pass
            if rest:
                next(read_windows(path, rest, [whole * CHUNK]))
        return len(files)

    def clips(self, n: int, sample_rate: int, seconds: float, seed: int) -> torch.Tensor:
        """``n`` mono excerpts (n, 1, round(seconds * sample_rate)), as the class describes."""
        n, seed = v.positive_int("n", n), v.nonnegative_int("seed", seed)
        fs = v.positive_int("sample_rate", sample_rate)
        length = round(v.positive_number("seconds", seconds) * fs)
        if length < 1:
            raise ValueError(f"seconds must hold at least one sample at {fs} Hz, got {seconds!r}")
        if self.folder is None:
            return self._embedded_clips(n, fs, seconds, seed)
        pool = [(p, info) for p in self.files() if (info := audio_info(p))]
        pool = [(p, i) for p, i in pool if i.frames >= self._frames(length, fs, i.sample_rate)]
        if not pool:
            raise ValueError(
                f"no sound file in data {self.source!r} is at least {seconds:g} s long "
                f"(WAV or FLAC: {', '.join(SUFFIXES)})"
            )
        return torch.stack([self._excerpt(pool, length, fs, seed, i) for i in range(n)])

    @staticmethod
    def _embedded_clips(n: int, fs: int, seconds: float, seed: int) -> torch.Tensor:
        clips = []
        for group in range(-(-n // len(NAMES))):
            draw = int(np.random.SeedSequence([seed, group]).generate_state(1)[0])
            sounds = embedded(fs, seconds, seed=draw)
            clips += [_normalised(sounds[name].double().mean(0).numpy()) for name in NAMES]
        return torch.stack(clips[:n])

    @staticmethod
    def _frames(length: int, fs: int, file_rate: int) -> int:
        """Frames of a file at ``file_rate`` that resample to at least ``length`` at ``fs``."""
        return math.ceil(length * file_rate / fs)

    def _excerpt(
        self, pool: list[tuple[Path, AudioInfo]], length: int, fs: int, seed: int, i: int
    ) -> torch.Tensor:
        rng = np.random.default_rng([seed, i])
        path, info = pool[int(rng.integers(len(pool)))]
        rate = info.sample_rate
        frames = self._frames(length, fs, rate)
        start = int(rng.integers(info.frames - frames + 1))
        (window,) = read_windows(path, frames, [start])
        mono = resample(window.double().mean(0).numpy(), rate, fs)[:length]
        return _normalised(mono)
