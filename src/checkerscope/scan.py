"""Score every image in folders for checkerboard artifacts: decode and score in worker processes,
stream the results back, keep only what a summary needs, so memory stays flat for any count.

The files are those :func:`checkerscope.images.iter_image_files` finds (``images.SUFFIXES``).
Images of up to :data:`MAX_PIXELS` pixels are scored whole (in 256 x 256 windows, see
:func:`checkerscope.analysis.score.checkerboard_score`). Larger ones are scored on their top
band of ``MAX_PIXELS // width`` rows, decoded without decoding the rest, for the formats that
allow it (non-interlaced PNG, baseline JPEG); other formats that large are reported as errors.
"""

from __future__ import annotations

import csv
import functools
import heapq
import io
import itertools
import json
import multiprocessing
import os
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, fields
from typing import Any, TypeVar

from checkerscope import checks as v
from checkerscope.images import iter_image_files, read_image

MAX_PIXELS = 2**25
"""Images with more pixels than this (33.5 megapixels, 5792 x 5792) are scored on a top band of
rows. Decoding holds about 12 bytes per pixel at once (PIL's RGB image, its float luma and the
array), so a worker peaks near 400 MB on the largest images it decodes whole."""

T = TypeVar("T")


@dataclass(frozen=True)
class ScanResult:
    """One scanned file. On failure only ``path`` and ``error`` are set.

    ``score_db``: the checkerboard score (dB); ``period``: the period with the highest score;
    ``block_grid_db``: the 8x8 block-grid measure of JPEG files (dB; ``None`` for other
    formats, whose grid is not JPEG's, and below 16x16 pixels);
    ``rows_scored``: rows decoded and scored, less than ``height`` above :data:`MAX_PIXELS`;
    ``where``: where that period's energy sits, ``"lattice"``, ``"rows"`` or ``"columns"``
    (see :func:`~checkerscope.analysis.score.explain_score`). A file with a NaN or infinite
    pixel (float TIFFs can hold them) is an error, ``"non-finite pixels"``.
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

    def flagged(self, threshold: float) -> bool:
        """Whether the image scored above ``threshold`` dB (never for a failed file)."""
        return self.score_db is not None and self.score_db > threshold


COLUMNS: tuple[str, ...] = (*(f.name for f in fields(ScanResult)), "flagged")
"""Columns of the CSV output and keys of every JSON line, in this order."""


def score_file(path: str | os.PathLike[str], max_pixels: int = MAX_PIXELS) -> ScanResult:
    """Decode and score one file; any failure becomes a result with ``error`` set.

    The score is :func:`~checkerscope.analysis.score.checkerboard_score` of the image (on its
    luma, as for any RGB input), the period and place those of
    :func:`~checkerscope.analysis.score.explain_score`.

    Example:
        >>> import tempfile, PIL.Image
        >>> path = tempfile.mktemp(suffix=".png")
        >>> PIL.Image.new("RGB", (64, 48), "red").save(path)
        >>> score_file(path).score_db, score_file(path).period
        (0.0, 2)
    """
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


def default_workers() -> int:
    """``min(4, number of CPUs)``."""
    return min(4, os.cpu_count() or 1)


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)  # parallelism comes from the processes


def map_files(
    fn: Callable[[str], T],
    files: Iterable[str | os.PathLike[str]],
    workers: int | None = None,
    chunksize: int = 8,
) -> Iterator[T]:
    """``fn(path)`` for each file in ``workers`` processes, results in completion order.

    At most ``4 * workers * chunksize`` files are in flight: the file list is read lazily and
    results are handed on as they arrive, so memory does not grow with the number of files.
    """
    workers = default_workers() if workers is None else v.positive_int("workers", workers)
    chunksize = v.positive_int("chunksize", chunksize)
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


def scan(
    paths: Iterable[str | os.PathLike[str]],
    workers: int | None = None,
    max_pixels: int = MAX_PIXELS,
    chunksize: int = 8,
) -> Iterator[ScanResult]:
    """Score every image under ``paths`` (files, or folders searched recursively).

    Yields a :class:`ScanResult` per file as workers finish it; see :func:`map_files`.

    Example:
        >>> import tempfile, PIL.Image
        >>> folder = tempfile.mkdtemp()
        >>> PIL.Image.new("L", (32, 32)).save(f"{folder}/a.png")
        >>> [r.score_db for r in scan([folder], workers=1)]
        [0.0]
    """
    max_pixels = v.positive_int("max_pixels", max_pixels)
    job = functools.partial(score_file, max_pixels=max_pixels)
    return map_files(job, iter_image_files(paths), workers, chunksize)


class ScanSummary:
    """What a scan report needs, in memory independent of the number of files.

    Keeps the ``top`` highest scores in a heap, the first ``max_errors`` failures, and counts.
    """

    def __init__(self, threshold: float, top: int = 20, max_errors: int = 100) -> None:
        self.threshold = threshold
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
        """0 if no image scored above the threshold, else 1 (failed files do not count)."""
        return 1 if self.flagged else 0


def result_row(result: ScanResult, threshold: float) -> dict[str, Any]:
    """A result as a flat dict with the keys of :data:`COLUMNS`."""
    return {**asdict(result), "flagged": result.flagged(threshold)}


class ResultWriter:
    """Write results as they arrive, as CSV (``fmt="csv"``) or JSON Lines (``fmt="json"``).

    CSV: a header of :data:`COLUMNS`, then one row per file (empty cells for ``None``).
    JSON Lines: one object per line with the keys of :data:`COLUMNS` (``null`` for ``None``),
    so a consumer can read the output while a long scan is still running.
    """

    def __init__(self, stream: io.TextIOBase | Any, fmt: str, threshold: float) -> None:
        self.stream = stream
        self.fmt = v.one_of("fmt", fmt, ("csv", "json"))
        self.threshold = threshold
        self._csv = csv.DictWriter(stream, COLUMNS) if fmt == "csv" else None
        if self._csv is not None:
            self._csv.writeheader()

    def write(self, result: ScanResult) -> None:
        row = result_row(result, self.threshold)
        if self._csv is not None:
            self._csv.writerow(row)
        else:
            self.stream.write(json.dumps(row) + "\n")
