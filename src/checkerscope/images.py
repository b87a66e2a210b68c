"""Image files: which files are images, how folders are walked, and how files are decoded.

The one home of both, for the folder scanner (:mod:`checkerscope.scan`), the bundled
photographs and the experiments' image source (:mod:`checkerscope.data`). Decoding keeps each
file's native pixel type; :func:`to_tensor` and :func:`load_image` turn it into floats.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

SUFFIXES: tuple[str, ...] = (".bmp", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp")
"""File name endings (any case) of the images found in a folder: lossless formats and the
lossy ones photographs and generated images are shared in. GIF is left out: its 256-colour
palette and dithering make fine patterns of their own."""


def iter_image_files(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Path]:
    """Files under ``paths``, lazily: a file as given, a folder recursively (sorted, by suffix).

    Folders are walked top-down, each folder's files (sorted by name) before its subfolders
    (sorted by name); symbolic links to folders are not followed. Raises ``ValueError`` for a
    path that does not exist, before yielding anything.

    Example:
        >>> import tempfile, pathlib
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> for name in ("b.PNG", "a.jpg", "notes.txt"):
        ...     (root / name).touch()
        >>> [p.name for p in iter_image_files([root])]
        ['a.jpg', 'b.PNG']
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
    Corrupt files raise PIL's errors.

    Example:
        >>> import tempfile, PIL.Image
        >>> path = tempfile.mktemp(suffix=".png")
        >>> PIL.Image.new("RGB", (40, 200)).save(path)
        >>> band = read_image(path, max_pixels=40 * 100)
        >>> band.array.shape, band.width, band.height
        ((96, 40, 3), 40, 200)
    """
    from PIL import Image, ImageFile

    with _no_bomb_limit(), Image.open(path) as im:
        width, height = im.size
        if width * height <= max_pixels:
            im.load()
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
        # PNG and baseline JPEG decode top to bottom: ask for the first rows only.
        im.tile = [im.tile[0]._replace(extents=(0, 0, width, rows))]
        im._size = (width, rows)
        truncated = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = True  # the JPEG decoder sees the rest as "missing"
        try:
            im.load()
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = truncated
        return Decoded(_pixels(im, luma), width, height, im.format)


def decode(path: str | os.PathLike[str], max_pixels: int | None = None) -> np.ndarray:
    """Decode a whole image file to an array (H, W) or (H, W, C) of its native integer type.

    Palette, CMYK and 1-bit images become RGB or grayscale; alpha is dropped (the artifacts of
    interest are in the colour). ``max_pixels`` (default: PIL's decompression-bomb limit) bounds
    W*H before anything is decoded: a larger image raises ``ValueError``.

    Example:
        >>> import tempfile, PIL.Image
        >>> path = tempfile.mktemp(suffix=".png")
        >>> PIL.Image.new("P", (4, 3)).save(path)
        >>> decode(path).shape, decode(path).dtype
        ((3, 4, 3), dtype('uint8'))
    """
    from PIL import Image

    with Image.open(path) as im:
        limit = Image.MAX_IMAGE_PIXELS if max_pixels is None else max_pixels
        if limit is not None and im.width * im.height > limit:
            raise ValueError(
                f"image {os.fspath(path)!r} has {im.width}x{im.height} pixels, more than "
                f"max_pixels={limit}"
            )
        return _pixels(im, luma=False)


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
