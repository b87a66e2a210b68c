"""Image files: which files are images, how folders are walked, and how files are decoded.

The one home of both, for the folder scanner (:mod:`checkerscope.scan`), the bundled
photographs and the experiments' image source (:mod:`checkerscope.data`). Decoding keeps each
file's native pixel type; :func:`to_tensor` and :func:`load_image` turn it into floats.
"""

from __future__ import annotations

import contextlib
import os
import stat
import struct
import warnings
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any, NamedTuple

import numpy as np
import torch

SUFFIXES: tuple[str, ...] = (".bmp", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp")
"""File name endings (any case) of the images found in a folder: lossless formats and the
lossy ones photographs and generated images are shared in. GIF is left out: its 256-colour
palette and dithering make fine patterns of their own."""


def iter_image_files(
    paths: Iterable[str | os.PathLike[str]],
    on_error: Callable[[OSError], None] | None = None,
) -> Iterator[Path]:
    """Files under ``paths``, lazily: a file as given, a folder recursively (sorted, by suffix).

    Folders are walked top-down, each folder's files (sorted by name) before its subfolders
    (sorted by name); symbolic links to folders are not followed. Raises ``ValueError`` for a
    path that does not exist, before yielding anything. A folder that cannot be listed
    (no permission, removed meanwhile) is never skipped silently: ``on_error(err)`` is called
    with the ``OSError`` (its ``filename`` is the folder) and the walk goes on, or without
    ``on_error`` a ``ValueError`` naming the folder is raised. :func:`iter_files` with
    :data:`SUFFIXES`.

    Example:
        >>> import tempfile, pathlib
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> for name in ("b.PNG", "a.jpg", "notes.txt"):
        ...     (root / name).touch()
        >>> [p.name for p in iter_image_files([root])]
        ['a.jpg', 'b.PNG']
    """
    return iter_files(paths, SUFFIXES, on_error)


def iter_files(
    paths: Iterable[str | os.PathLike[str]],
    suffixes: tuple[str, ...],
    on_error: Callable[[OSError], None] | None = None,
) -> Iterator[Path]:
    """Files under ``paths`` whose names end (any case) with one of ``suffixes``, walked as
    :func:`iter_image_files` walks them; a file given by name is yielded whatever its suffix.

    Example:
        >>> import tempfile, pathlib
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> for name in ("b.WAV", "a.png", "c.flac"):
        ...     (root / name).touch()
        >>> [p.name for p in iter_files([root], (".wav", ".flac"))]
        ['b.WAV', 'c.flac']
    """
    paths = [Path(p) for p in paths]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise ValueError(f"paths must exist, got missing {missing}")
    for path in paths:
        if not path.is_dir():
            yield path
            continue
        for root, dirs, files in os.walk(path, onerror=on_error or _unreadable_folder):
            dirs.sort()
            for name in sorted(files):
                if name.lower().endswith(suffixes):
                    yield Path(root, name)


def _unreadable_folder(err: OSError) -> None:
    raise ValueError(f"folder {err.filename!r} cannot be read: {err.strerror}") from err


def _kind(mode: int) -> str:
    kinds = (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    )
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def open_regular_file(path: str | os.PathLike[str]) -> IO[bytes]:
    """Open ``path`` for reading in binary, if it is a regular file (symbolic links followed).

    FIFOs, sockets, devices and folders raise ``ValueError`` without being read: opening a
    FIFO for reading waits for a writer for ever, and a device can stream without end. The
    file is opened non-blocking and checked again, so one swapped in after the first check
    cannot hang either.

    Example:
        >>> import tempfile
        >>> open_regular_file(tempfile.mkdtemp())
        Traceback (most recent call last):
        ...
        ValueError: ... is a folder, not a regular file: only regular files are read
    """

    def refuse(mode: int) -> None:
        if not stat.S_ISREG(mode):
            raise ValueError(
                f"{os.fspath(path)!r} is {_kind(mode)}, not a regular file: only regular files "
                f"are read"
            )

    refuse(os.stat(path).st_mode)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        refuse(os.fstat(fd).st_mode)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


TAIL = 1 << 16
"""Bytes at the end of a file searched for its format's end marker before a band is decoded."""

END_MARKERS = {"PNG": b"IEND\xaeB`\x82", "JPEG": b"\xff\xd9"}
"""What a complete PNG (its IEND chunk) and a complete JPEG (its EOI marker) end with. Neither
can occur inside the compressed data that precedes it (zlib, chance aside; JPEG stuffs every
0xff in its entropy-coded data)."""


def _check_complete(f: IO[bytes], fmt: str, data_start: int, path: Any) -> None:
    """Raise ``ValueError`` if the file lacks its end marker after ``data_start``: a truncated
    file, which a band of its top rows would never show."""
    size = os.fstat(f.fileno()).st_size
    f.seek(max(data_start, size - TAIL))
    if END_MARKERS[fmt] not in f.read():
        raise ValueError(
            f"{os.fspath(path)!r} is truncated: this {fmt} file ends before its image data does "
            f"(no end marker)"
        )


ADAM7 = (
    (0, 0, 8, 8),
    (4, 0, 8, 8),
    (0, 4, 4, 8),
    (2, 0, 4, 4),
    (0, 2, 2, 4),
    (1, 0, 2, 2),
    (0, 1, 1, 2),
)
"""The passes of PNG's interlacing: (first column, first row, column step, row step)."""

PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
"""Samples per pixel of each PNG colour type (grey, RGB, palette, grey + alpha, RGBA)."""


def _png_raw_bytes(header: bytes, rows: int) -> int:
    """The filtered bytes a PNG (its IHDR ``header``) holds for its top ``rows`` (all rows when
    interlaced): one filter byte per row, then the row's samples."""
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header[:13])
    bits = depth * PNG_CHANNELS.get(colour, 4)
    if not interlace:
        return rows * (1 + (width * bits + 7) // 8)
    total = 0
    for x0, y0, dx, dy in ADAM7:
        cols, lines = -(-max(width - x0, 0) // dx), -(-max(height - y0, 0) // dy)
        total += lines * (1 + (cols * bits + 7) // 8) if cols else 0
    return total


def _check_png_rows(im: Any, f: IO[bytes], path: Any) -> None:
    """Raise ``ValueError`` if PIL decoded fewer rows of a PNG than ``im`` holds.

    PIL decodes a PNG whose data stops early (a complete zlib stream of 64 rows under a header
    that claims 100,000) and leaves the rest zero. Rows are decoded top to bottom, so a last
    row with any nonzero value proves the data complete; only an all-zero last row (or an
    interlaced file) costs a count of the data (:func:`_check_png_data`).
    """
    last = np.asarray(im.crop((0, im.height - 1, im.width, im.height)))
    if im.info.get("interlace") or not last.any():
        _check_png_data(f, im.height, path)


def _check_png_data(f: IO[bytes], rows: int, path: Any) -> None:
    """Raise ``ValueError`` unless the PNG's compressed data holds its top ``rows`` rows: the
    data is inflated, in bounded pieces and no further than needed, and counted."""
    f.seek(8)
    needed, found = None, 0
    inflate = zlib.decompressobj()
    while needed is None or found < needed:
        head = f.read(8)
        if len(head) < 8:
            break
        length, kind = struct.unpack(">I4s", head)
        data = f.read(length)
        f.seek(4, os.SEEK_CUR)  # CRC
        if kind == b"IHDR":
            needed = _png_raw_bytes(data, rows)
        elif kind == b"IDAT":
            try:
                found += len(inflate.decompress(data, 1 << 20))
                while inflate.unconsumed_tail and found < (needed or 0):
                    found += len(inflate.decompress(inflate.unconsumed_tail, 1 << 20))
            except zlib.error:
                break
        elif kind == b"IEND":
            break
    if needed is None or found < needed:
        raise ValueError(
            f"{os.fspath(path)!r} is truncated: its PNG data ends before row {rows} of the "
            f"image its header describes"
        )


class Decoded(NamedTuple):
    """An image file's pixels (rows, W) or (rows, W, 3), its full size and its PIL format."""

    array: np.ndarray
    width: int
    height: int
    format: str | None


def _pixels(im: Any, luma: bool) -> np.ndarray:
    """A PIL image as (H, W) or (H, W, 3) of its native type; alpha dropped.

    16-bit images stay uint16, 32-bit integer and float images keep their values; palette,
    CMYK and other modes become RGB, bilevel and grey-with-alpha become grey. With ``luma``,
    float32 (H, W): PIL's BT.601 luma of those values.
    """
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N") and not luma:
        return np.asarray(im, dtype=np.uint16)
    if im.mode not in ("L", "RGB", "I", "F") and not im.mode.startswith("I;16"):
        im = im.convert("L" if im.mode in ("1", "LA", "La") else "RGB")
    return np.asarray(im.convert("F") if luma else im)


@contextlib.contextmanager
def _no_bomb_limit() -> Iterator[None]:
    """Lift PIL's decompression-bomb check: the band of rows bounds memory instead."""
    from PIL import Image

    limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = limit


def read_image(path: str | os.PathLike[str], max_pixels: int, luma: bool = False) -> Decoded:
    """Decode an image file whole, or only a top band of rows of one above ``max_pixels``.

    ``luma=True`` returns the BT.601 luma as float32 (rows, W), what the score reads of RGB.

    ``rows`` is the height, or for images above ``max_pixels`` the largest multiple of 8 with
    ``rows * width <= max_pixels``, decoded without decoding the rest (non-interlaced PNG,
    baseline JPEG; other formats raise ``ValueError``), so memory is bounded for any file.
    A banded file must end with its format's end marker and hold the band's data, else
    ``ValueError``: a truncated file is never scored on made-up rows. Only regular files are
    read (see :func:`open_regular_file`). Corrupt files raise PIL's errors.

    Example:
        >>> import tempfile, PIL.Image
        >>> path = tempfile.mktemp(suffix=".png")
        >>> PIL.Image.new("RGB", (40, 200)).save(path)
        >>> band = read_image(path, max_pixels=40 * 100)
        >>> band.array.shape, band.width, band.height
        ((96, 40, 3), 40, 200)
    """
    from PIL import Image, ImageFile

    with open_regular_file(path) as f, _no_bomb_limit(), Image.open(f) as im:
        data_start = f.tell()  # where the header ends: PNG's first IDAT, JPEG's scan data
        width, height = im.size
        if width * height <= max_pixels:
            im.load()
            if im.format == "PNG":
                _check_png_rows(im, f, path)
            return Decoded(_pixels(im, luma), width, height, im.format)
        rows = max_pixels // width // 8 * 8
        sequential = (im.format == "PNG" and not im.info.get("interlace")) or (
            im.format == "JPEG" and "progression" not in im.info
        )
        if rows < 16 or not sequential or len(im.tile) != 1:
            raise ValueError(
                f"{width}x{height} pixels is more than max_pixels={max_pixels}, and this "
                f"{im.format} file cannot be decoded a band of rows at a time"
            )
        _check_complete(f, im.format, data_start, path)
        # PNG and baseline JPEG decode top to bottom: ask for the first rows only. A PNG whose
        # data ends inside the band raises "truncated". libjpeg, stopped after the band, calls
        # the unread rest "missing": PIL may accept that only for a JPEG known to be complete.
        im.tile = [im.tile[0]._replace(extents=(0, 0, width, rows))]
        im._size = (width, rows)
        truncated = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = im.format == "JPEG"
        try:
            im.load()
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = truncated
        if im.format == "PNG":
            _check_png_rows(im, f, path)
        return Decoded(_pixels(im, luma), width, height, im.format)


def decode(path: str | os.PathLike[str], max_pixels: int | None = None) -> np.ndarray:
    """Decode a whole image file to an array (H, W) or (H, W, C) of its native integer type.

    Palette, CMYK and 1-bit images become RGB or grayscale; alpha is dropped (the artifacts of
    interest are in the colour). ``max_pixels`` (default: PIL's decompression-bomb limit) bounds
    W*H before anything is decoded: a larger image raises ``ValueError``, as do files that are
    not regular files, or that PIL cannot decode (naming the file).

    Example:
        >>> import tempfile, PIL.Image
        >>> path = tempfile.mktemp(suffix=".png")
        >>> PIL.Image.new("P", (4, 3)).save(path)
        >>> decode(path).shape, decode(path).dtype
        ((3, 4, 3), dtype('uint8'))
    """
    from PIL import Image

    with open_regular_file(path) as f:
        try:
            with Image.open(f) as im:
                limit = Image.MAX_IMAGE_PIXELS if max_pixels is None else max_pixels
                if limit is not None and im.width * im.height > limit:
                    raise ValueError(
                        f"image {os.fspath(path)!r} has {im.width}x{im.height} pixels, more "
                        f"than max_pixels={limit}"
                    )
                im.load()
                if im.format == "PNG":
                    _check_png_rows(im, f, path)
                return _pixels(im, luma=False)
        except (OSError, SyntaxError, Image.DecompressionBombError) as err:
            raise ValueError(
                f"image {os.fspath(path)!r} cannot be decoded: {type(err).__name__}: {err}"
            ) from err


def to_tensor(array: np.ndarray) -> torch.Tensor:
    """An image array (H, W) or (H, W, C), integer or float, as a float tensor (C, H, W).

    Integers are scaled by their type's maximum (uint8 by 255, uint16 by 65535), so the result
    lies in [0, 1]; floats are kept as they are.

    Example:
        >>> to_tensor(np.full((2, 3), 255, dtype=np.uint8))
        tensor([[[1., 1., 1.],
                 [1., 1., 1.]]])
    """
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3:
        raise ValueError(f"array must have shape (H, W) or (H, W, C), got {array.shape}")
    if array.dtype == bool:
        array = array.astype(np.float32)
    elif np.issubdtype(array.dtype, np.integer):
        array = array.astype(np.float32) / np.iinfo(array.dtype).max
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1), dtype=np.float32))


def load_image(path: str | os.PathLike[str], max_pixels: int | None = None) -> torch.Tensor:
    """Load an image file (PNG, JPEG, WebP, TIFF, ...) as a float tensor (C, H, W) in [0, 1].

    C is 1 for grayscale and 3 otherwise; 32-bit integer and float images keep their values
    (the checkerboard score does not depend on the range). See :func:`decode` for
    ``max_pixels``.

    Example:
        >>> import tempfile, PIL.Image
        >>> path = tempfile.mktemp(suffix=".png")
        >>> PIL.Image.new("RGB", (40, 30)).save(path)
        >>> load_image(path).shape
        torch.Size([3, 30, 40])
    """
    array = decode(path, max_pixels)
    if array.dtype == np.int32:
        array = array.astype(np.float32)
    return to_tensor(array)
