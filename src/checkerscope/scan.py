"""Score every image in folders for checkerboard artifacts: decode and score in worker processes,
stream the results back, keep only what a summary needs, so memory stays flat for any count.

Images of up to :data:`MAX_PIXELS` pixels are scored whole (in 256 x 256 windows, see
:func:`checkerscope.analysis.score.checkerboard_score`). Larger ones are scored on their top
band of ``MAX_PIXELS // width`` rows, decoded without decoding the rest, for the formats that
allow it (non-interlaced PNG, baseline JPEG); other formats that large are reported as errors.
"""

from __future__ import annotations

import contextlib
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
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import numpy as np

from checkerscope import checks as v

SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff")
"""File name endings (any case) picked up when scanning a folder."""

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
    ``rows_scored``: rows decoded and scored, less than ``height`` above :data:`MAX_PIXELS`.
    """

    path: str
    score_db: float | None = None
    period: int | None = None
    width: int | None = None
    height: int | None = None
    block_grid_db: float | None = None
    rows_scored: int | None = None
    error: str | None = None

    def flagged(self, threshold: float) -> bool:
        """Whether the image scored above ``threshold`` dB (never for a failed file)."""
        return self.score_db is not None and self.score_db > threshold


COLUMNS: tuple[str, ...] = (*(f.name for f in fields(ScanResult)), "flagged")
"""Columns of the CSV output and keys of every JSON line, in this order."""


def iter_image_files(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Path]:
    """Files under ``paths``, lazily: a file as given, a folder recursively (sorted, by suffix).

    Raises ``ValueError`` for a path that does not exist, before yielding anything.
    """
    paths = [Path(p) for p in paths]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise ValueError(f"paths must exist, got missing {missing}")
    for path in paths:
        if not path.is_dir():
            yield path
            continue
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                if name.lower().endswith(SUFFIXES):
                    yield Path(root, name)


@contextlib.contextmanager
def _no_bomb_limit() -> Iterator[None]:
    """Lift PIL's decompression-bomb check: :data:`MAX_PIXELS` and bands bound memory instead."""
    from PIL import Image

    limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = limit


def _as_array(im: Any, luma: bool) -> np.ndarray:
    """A loaded PIL image as (H, W) or (H, W, 3), integers or float32; alpha dropped.

    With ``luma``, as float32 (H, W) BT.601 luma of 0-255 (or 16-bit) values, converted by PIL.
    """
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N") and not luma:
        return np.asarray(im, dtype=np.uint16)
    if im.mode not in ("L", "RGB", "I", "F") and not im.mode.startswith("I;16"):
        im = im.convert("L" if im.mode in ("1", "LA", "La") else "RGB")
    return np.asarray(im.convert("F") if luma else im)


class Decoded(NamedTuple):
    """An image file's pixels (rows, W) or (rows, W, 3), its full size and its PIL format."""

    array: np.ndarray
    width: int
    height: int
    format: str | None


def read_image(
    path: str | os.PathLike[str], max_pixels: int = MAX_PIXELS, luma: bool = False
) -> Decoded:
    """Decode an image file; the array holds all rows, or a top band of the largest ones.

    ``luma=True`` returns the BT.601 luma as float32 (rows, W), what the score reads of RGB.

    ``rows`` is the height, or for images above ``max_pixels`` the largest multiple of 8 with
    ``rows * width <= max_pixels``, decoded without decoding the rest (non-interlaced PNG,
    baseline JPEG; other formats raise ``ValueError``). Corrupt files raise PIL's errors.
    """
    from PIL import Image, ImageFile

    with _no_bomb_limit(), Image.open(path) as im:
        width, height = im.size
        if width * height <= max_pixels:
            im.load()
            return Decoded(_as_array(im, luma), width, height, im.format)
        rows = max_pixels // width // 8 * 8
        sequential = (im.format == "PNG" and not im.info.get("interlace")) or (
            im.format == "JPEG" and "progression" not in im.info
        )
        if rows < 16 or not sequential or len(im.tile) != 1:
            raise ValueError(
                f"{width}x{height} pixels is more than max_pixels={max_pixels}, and this "
                f"{im.format} file cannot be decoded a band of rows at a time"
            )
        # PNG and baseline JPEG decode top to bottom: ask for the first rows only.
        im.tile = [im.tile[0]._replace(extents=(0, 0, width, rows))]
        im._size = (width, rows)
        truncated = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = True  # the JPEG decoder sees the rest as "missing"
        try:
            im.load()
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = truncated
        return Decoded(_as_array(im, luma), width, height, im.format)


def score_file(path: str | os.PathLike[str], max_pixels: int = MAX_PIXELS) -> ScanResult:
    """Decode and score one file; any failure becomes a result with ``error`` set.

    The score is :func:`~checkerscope.analysis.score.checkerboard_score` of the image (on its
    luma, as for any RGB input), the period the one that scores highest.

    Example:
        >>> import tempfile, PIL.Image
        >>> path = tempfile.mktemp(suffix=".png")
        >>> PIL.Image.new("RGB", (64, 48), "red").save(path)
        >>> score_file(path).score_db, score_file(path).period
        (0.0, 2)
    """
    import torch

    from checkerscope.analysis.score import (
        BLOCK,
        TILE,
        _default_periods,
        _energy,
        block_grid,
        period_scores,
        to_decibels,
    )

    try:
        array, width, height, fmt = read_image(path, max_pixels, luma=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # read-only array: nothing writes to it
            y = torch.from_numpy(array)[None]
        periods = _default_periods(*(min(n, TILE) for n in y.shape[-2:]))
        if max(y.shape[-2:]) <= TILE:  # one window: skip period_scores' checks and tiling
            scores = to_decibels(*_energy(y[None], periods))[0]
        else:
            scores = period_scores(y, periods)[0]
        best = int(scores.argmax())
        jpeg = fmt in ("JPEG", "MPO") and min(y.shape[-2:]) >= 2 * BLOCK
        grid = float(block_grid(y)[0]) if jpeg else None
        return ScanResult(
            os.fspath(path), float(scores[best]), periods[best], width, height, grid, y.shape[-2]
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
