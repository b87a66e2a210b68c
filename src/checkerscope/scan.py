"""Score every image and sound in folders for checkerboard artifacts: decode and score in worker
processes, stream the results back, keep only what a summary needs, so memory stays flat for any
count.

The files are those with a suffix of :data:`SUFFIXES`: images (``images.SUFFIXES``) and sounds
(WAV and FLAC, ``audiofiles.SUFFIXES``). Images of up to :data:`MAX_PIXELS` pixels are scored
whole (in 256 x 256 windows, see :func:`checkerscope.analysis.score.checkerboard_score`).
Larger ones are scored on their top band of ``MAX_PIXELS // width`` rows, decoded without
decoding the rest, for the formats that allow it (non-interlaced PNG, baseline JPEG); other
formats that large are reported as errors. Sounds of any length are scored by their tones
(:func:`checkerscope.analysis.tones.tone_score`), read one window at a time, so memory stays
flat however long they are. Nothing found is lost: a file that cannot be decoded (truncated,
mislabelled, a FIFO or device named like an image or a sound) and a folder that cannot be
listed each give a result with ``error`` set.
"""

from __future__ import annotations

import csv
import functools
import heapq
import io
import itertools
import json
import math
import multiprocessing
import operator
import os
import signal
import threading
import warnings
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

from checkerscope import audiofiles, images
from checkerscope import checks as v
from checkerscope.files import check_output_file
from checkerscope.images import iter_files, open_regular_file, read_image

MAX_PIXELS = 2**25
"""Images with more pixels than this (33.5 megapixels, 5792 x 5792) are scored on a top band of
rows. Decoding holds about 12 bytes per pixel at once (PIL's RGB image, its float luma and the
array), so a worker peaks near 400 MB on the largest images it decodes whole."""

SUFFIXES = images.SUFFIXES + audiofiles.SUFFIXES
"""File name endings (any case) of the files a folder scan picks up: images, then sounds."""

T = TypeVar("T")


@dataclass(frozen=True)
class ScanResult:
    """One scanned file. On failure only ``path`` and ``error`` are set.

    ``score_db``: the checkerboard score (dB; of a sound, its tone score); ``period``: the
    period with the highest score (of a sound, the stride whose tones score highest);
    ``block_grid_db``: the 8x8 block-grid measure of JPEG files (dB; ``None`` for other
    formats, whose grid is not JPEG's, and below 16x16 pixels);
    ``rows_scored``: rows decoded and scored, less than ``height`` above :data:`MAX_PIXELS`;
    ``where``: where that period's energy sits, ``"lattice"``, ``"rows"`` or ``"columns"``
    (see :func:`~checkerscope.analysis.score.explain_score`). A file with a NaN or infinite
    pixel (float TIFFs can hold them) is an error, ``"non-finite pixels"``.

    Sounds (``sample_rate`` set; ``width``, ``height``, ``rows_scored``, ``where`` and
    ``block_grid_db`` are ``None``): ``tone_hz``, the loudest tone of the scoring stride's
    lattice ``a * sample_rate / period`` (``None`` when none stands above its background);
    ``sample_rate`` in Hz, ``frames`` per channel and ``channels``
    (:func:`~checkerscope.analysis.tones.tone_score`). A NaN or infinite sample (float files
    can hold them) is an error, ``"non-finite samples"``.
    """

    path: str
    score_db: float | None = None
    period: int | None = None
    width: int | None = None
    height: int | None = None
    block_grid_db: float | None = None
    rows_scored: int | None = None
    error: str | None = None
    where: str | None = None
    tone_hz: float | None = None
    sample_rate: int | None = None
    frames: int | None = None
    channels: int | None = None

    def flagged(self, threshold: float) -> bool:
        """Whether the file scored above ``threshold`` dB (never for a failed file)."""
        return self.score_db is not None and self.score_db > threshold


SOUND_COLUMNS = ("tone_hz", "sample_rate", "frames", "channels")
"""The columns only sounds fill; they come last, after those of the image scan."""
COLUMNS: tuple[str, ...] = (
    *(f.name for f in fields(ScanResult) if f.name not in SOUND_COLUMNS),
    "flagged",
    *SOUND_COLUMNS,
)
"""Columns of the CSV output and keys of every JSON line, in this order."""


def score_file(path: str | os.PathLike[str], max_pixels: int = MAX_PIXELS) -> ScanResult:
    """Decode and score one file; any failure becomes a result with ``error`` set.

    A sound (by suffix, :data:`audiofiles.SUFFIXES`) is scored by :func:`score_sound_file`.
    An image's score is :func:`~checkerscope.analysis.score.checkerboard_score` of the image (on its
    luma, as for any RGB input), the period and place those of
    :func:`~checkerscope.analysis.score.explain_score`.

    Example:
        >>> import tempfile, PIL.Image
        >>> path = tempfile.mktemp(suffix=".png")
        >>> PIL.Image.new("RGB", (64, 48), "red").save(path)
        >>> score_file(path).score_db, score_file(path).period
        (0.0, 2)
    """
    if os.fspath(path).lower().endswith(audiofiles.SUFFIXES):
        return score_sound_file(path)
    import torch

    from checkerscope.analysis.score import BLOCK, block_grid, explain_score

    try:
        array, width, height, fmt = read_image(path, max_pixels, luma=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # read-only array: nothing writes to it
            y = torch.from_numpy(array)[None]
        verdict = explain_score(y)
        if verdict.where[0] is None:  # the score is NaN
            return ScanResult(os.fspath(path), error="non-finite pixels (NaN or infinity)")
        jpeg = fmt in ("JPEG", "MPO") and min(y.shape[-2:]) >= 2 * BLOCK
        grid = float(block_grid(y)[0]) if jpeg else None
        return ScanResult(
            os.fspath(path),
            score_db=float(verdict.score[0]),
            period=int(verdict.period[0]),
            width=width,
            height=height,
            block_grid_db=grid,
            rows_scored=y.shape[-2],
            where=verdict.where[0],
        )
    except Exception as e:  # a scan reports bad files and goes on
        return ScanResult(os.fspath(path), error=f"{type(e).__name__}: {e}")


def score_sound_file(path: str | os.PathLike[str]) -> ScanResult:
    """Score one WAV or FLAC file by its tones; any failure becomes a result with ``error`` set.

    The score is :func:`~checkerscope.analysis.tones.tone_score` of the whole file (channels'
    powers averaged, windows of :data:`~checkerscope.analysis.tones.TILE` samples), computed
    from windows read one at a time (:func:`~checkerscope.audiofiles.read_windows`) and their
    :func:`~checkerscope.analysis.tones.tone_energy` summed, so memory holds one window
    whatever the length. Only regular files are read.

    Example:
        >>> import tempfile, torch
        >>> from checkerscope.audiofiles import write_audio
        >>> path = tempfile.mktemp(suffix=".wav")
        >>> n = torch.arange(16000)
        >>> buzz = 0.01 * torch.cos(n * torch.pi / 2)  # fs / 4: a period-4 pattern
        >>> write_audio(path, (0.3 * torch.sin(n * 0.05) + buzz)[None], 16000)
        >>> r = score_sound_file(path)
        >>> r.score_db > 12, r.period, r.tone_hz, r.sample_rate
        (True, 4, 4000.0, 16000)
    """
    from checkerscope.analysis.tones import (
        TILE,
        score_tones,
        tone_energy,
        tone_lattice,
        tone_strides,
    )
    from checkerscope.analysis.welch import tile_starts

    try:
        open_regular_file(path).close()  # FIFOs and devices are refused, never waited on
        info = audiofiles.audio_info(path)
        tile = min(TILE, info.frames)
        strides = tone_strides(tile)
        length = tile // math.lcm(*strides) * math.lcm(*strides)
        windows = audiofiles.read_windows(path, length, tile_starts(info.frames, tile))
        energy = functools.reduce(
            operator.add, (tone_energy(w, strides, tile=None) for w in windows)
        )
        tones = score_tones(energy, info.sample_rate)
        if not bool(energy.finite[0]):
            return ScanResult(os.fspath(path), error="non-finite samples (NaN or infinity)")
        best = int(tones.stride_scores[0].argmax())
        period = strides[best]
        # The loudest of the tones a * fs / period, the pattern that scored.
        on_lattice = [(q * period).denominator == 1 for q in tone_lattice(strides)]
        scores = [
            float(s) if on else -math.inf
            for s, on in zip(tones.frequency_scores[0], on_lattice, strict=True)
        ]
        loudest = max(range(len(scores)), key=scores.__getitem__)
        heard = scores[loudest] > 0
        return ScanResult(
            os.fspath(path),
            score_db=float(tones.score[0]),
            period=period,
            tone_hz=float(tones.frequencies[loudest]) if heard else None,
            sample_rate=info.sample_rate,
            frames=info.frames,
            channels=info.channels,
        )
    except Exception as e:  # a scan reports bad files and goes on
        return ScanResult(os.fspath(path), error=f"{type(e).__name__}: {e}")


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity mask where the system has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def default_workers() -> int:
    """``min(4, number of CPUs)``."""
    return min(4, available_cpus())


def _init_worker() -> None:
    import torch

    # The parent handles interruptions and ends the pool; a worker dies quietly on SIGTERM
    # (the pool's own way to stop it) and leaves Ctrl-C, sent to the whole group, to it.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(1)  # parallelism comes from the processes


def map_files(
    fn: Callable[[str], T],
    files: Iterable[str | os.PathLike[str]],
    workers: int | None = None,
    chunksize: int = 8,
) -> Generator[T, None, None]:
    """``fn(path)`` for each file in ``workers`` processes, results in completion order.

    At most ``4 * workers * chunksize`` files are in flight: the file list is read lazily and
    results are handed on as they arrive, so memory does not grow with the number of files.
    No more processes start than there are CPUs (:func:`available_cpus`) or files: the first
    ``workers`` files are read before the pool starts.
    """
    workers = default_workers() if workers is None else v.positive_int("workers", workers)
    chunksize = v.positive_int("chunksize", chunksize)
    files = iter(files)
    head = list(itertools.islice(files, min(workers, available_cpus())))
    if not head:
        return
    workers = len(head)
    files = itertools.chain(head, files)
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    slots = threading.Semaphore(4 * workers * chunksize)
    stop = threading.Event()

    def feed() -> Iterator[str]:
        for f in files:
            while not slots.acquire(timeout=0.1):
                if stop.is_set():
                    return
            if stop.is_set():
                return
            yield os.fspath(f)

    with context.Pool(workers, initializer=_init_worker) as pool:
        try:
            for result in pool.imap_unordered(fn, feed(), chunksize):
                slots.release()
                yield result
        finally:
            stop.set()


def scanned_files(
    paths: Iterable[str | os.PathLike[str]], on_error: Callable[[OSError], None] | None = None
) -> Iterator[Path]:
    """The files a scan of ``paths`` reads: those given, and under folders every image and
    sound (:data:`SUFFIXES`), walked as :func:`checkerscope.images.iter_files` walks them."""
    return iter_files(paths, SUFFIXES, on_error)


def scan(
    paths: Iterable[str | os.PathLike[str]],
    workers: int | None = None,
    max_pixels: int = MAX_PIXELS,
    chunksize: int = 8,
) -> Iterator[ScanResult]:
    """Score every image and sound under ``paths`` (files, or folders searched recursively).

    Yields a :class:`ScanResult` per file as workers finish it (see :func:`map_files`), and
    one with ``error`` set per folder that could not be listed, its ``path`` the folder's.

    Example:
        >>> import tempfile, PIL.Image
        >>> folder = tempfile.mkdtemp()
        >>> PIL.Image.new("L", (32, 32)).save(f"{folder}/a.png")
        >>> [r.score_db for r in scan([folder], workers=1)]
        [0.0]
    """
    max_pixels = v.positive_int("max_pixels", max_pixels)
    job = functools.partial(score_file, max_pixels=max_pixels)
    unreadable: deque[ScanResult] = deque()  # appended by the walk, in the pool's feeder thread

    def note(err: OSError) -> None:
        error = f"{type(err).__name__}: folder cannot be read: {err.strerror}"
        unreadable.append(ScanResult(os.fspath(err.filename), error=error))

    results = map_files(job, scanned_files(paths, on_error=note), workers, chunksize)
    return _with_folder_errors(results, unreadable)


def _with_folder_errors(
    results: Generator[ScanResult, None, None], unreadable: deque[ScanResult]
) -> Iterator[ScanResult]:
    try:
        for result in results:
            yield result
            while unreadable:
                yield unreadable.popleft()
        while unreadable:
            yield unreadable.popleft()
    finally:
        results.close()


class ScanSummary:
    """What a scan report needs, in memory independent of the number of files.

    Keeps the ``top`` highest scores in a heap, the first ``max_errors`` failures, and counts.
    """

    def __init__(self, threshold: float, top: int = 20, max_errors: int = 100) -> None:
        self.threshold = finite_threshold(threshold)
        self.top = v.nonnegative_int("top", top)
        self.max_errors = v.nonnegative_int("max_errors", max_errors)
        self.scanned = 0
        self.flagged = 0
        self.failed = 0
        self.errors: list[ScanResult] = []
        self._heap: list[tuple[float, int, ScanResult]] = []
        self._count = itertools.count()

    def add(self, result: ScanResult) -> None:
        """Count ``result`` and keep it if it is among the worst or the first errors."""
        self.scanned += 1
        if result.score_db is None:
            self.failed += 1
            if len(self.errors) < self.max_errors:
                self.errors.append(result)
            return
        self.flagged += result.flagged(self.threshold)
        item = (result.score_db, next(self._count), result)
        if len(self._heap) < self.top:
            heapq.heappush(self._heap, item)
        elif self.top:
            heapq.heappushpop(self._heap, item)

    def worst(self) -> list[ScanResult]:
        """The kept results, highest score first."""
        return [r for _, _, r in sorted(self._heap, key=lambda t: (-t[0], t[1]))]

    @property
    def exit_code(self) -> int:
        """1 if some image scored above the threshold; else 2 if some file or folder could not
        be read (the scan is incomplete); else 0."""
        return 1 if self.flagged else 2 if self.failed else 0


def finite_threshold(threshold: float) -> float:
    """``threshold`` if it is a finite number of dB; NaN would flag nothing, and inf all or
    nothing, so they raise ``ValueError``."""
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise ValueError(f"threshold must be a number of dB, got {threshold!r}")
    if not math.isfinite(threshold):
        raise ValueError(f"threshold must be a finite number of dB, got {threshold!r}")
    return float(threshold)


def check_outputs(
    paths: Iterable[str | os.PathLike[str]],
    outputs: Mapping[str, str | os.PathLike[str] | None],
) -> None:
    """Refuse, with a ``ValueError``, outputs that would destroy data or cannot be written.

    ``outputs`` maps option names to files (None: not asked for; ``-``: standard output). Each
    must be writable (:func:`~checkerscope.files.check_output_file`), no two may be the same
    file, and none may be an input: a file given in ``paths``, or an image or sound file (by
    suffix, :data:`SUFFIXES`) under a folder in ``paths``, which the scan would read while it
    is being written. Symbolic links are resolved.

    Example:
        >>> import tempfile
        >>> folder = tempfile.mkdtemp()
        >>> check_outputs([folder], {"--csv": f"{folder}/scores.csv"})  # not an image: fine
        >>> check_outputs([folder], {"--csv": f"{folder}/a.png"})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: --csv '.../a.png' is an input of the scan (...): writing it would destroy it
    """
    inputs = [(Path(p), Path(p).resolve()) for p in paths]
    written: dict[Path, str] = {}
    for name, out in outputs.items():
        if out is None or os.fspath(out) == "-":
            continue
        target = check_output_file(name, out, stream=True).resolve()
        if target in written:
            raise ValueError(
                f"{written[target]} and {name} name the same file {os.fspath(out)!r}: one "
                f"would overwrite the other"
            )
        written[target] = name
        for given, source in inputs:
            scanned = source.is_dir() and target.name.lower().endswith(SUFFIXES)
            same = source.is_file() and target.exists() and os.path.samefile(source, target)
            if same or target == source or (scanned and target.is_relative_to(source)):
                raise ValueError(
                    f"{name} {os.fspath(out)!r} is an input of the scan ({str(given)!r}): "
                    f"writing it would destroy it"
                )


def result_row(result: ScanResult, threshold: float) -> dict[str, Any]:
    """A result as a flat dict with the keys of :data:`COLUMNS`, in their order."""
    row = {**asdict(result), "flagged": result.flagged(threshold)}
    return {column: row[column] for column in COLUMNS}


class ResultWriter:
    """Write results as they arrive, as CSV (``fmt="csv"``) or JSON Lines (``fmt="json"``).

    CSV: a header of :data:`COLUMNS`, then one row per file (empty cells for ``None``).
    JSON Lines: one object per line with the keys of :data:`COLUMNS` (``null`` for ``None``),
    so a consumer can read the output while a long scan is still running. Each row is flushed
    as it is written: a scan stopped at any moment leaves whole rows only.
    """

    def __init__(self, stream: io.TextIOBase | Any, fmt: str, threshold: float) -> None:
        self.stream = stream
        self.fmt = v.one_of("fmt", fmt, ("csv", "json"))
        self.threshold = finite_threshold(threshold)
        self._csv = csv.DictWriter(stream, COLUMNS) if fmt == "csv" else None
        if self._csv is not None:
            self._csv.writeheader()

    def write(self, result: ScanResult) -> None:
        row = result_row(result, self.threshold)
        if self._csv is not None:
            self._csv.writerow(row)
        else:
            self.stream.write(json.dumps(row) + "\n")
        self.stream.flush()
