"""Images for experiments and tests: the colour photographs shipped with scikit-image, crops of
them, and a loader that turns any image file into a float tensor.

Only files already on disk are used (some ``skimage.data`` functions download with pooch; those
are never called), so everything here works offline.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from checkerscope import checks as v

PHOTOGRAPHS: tuple[str, ...] = (
    "astronaut.png",
    "chelsea.png",
    "coffee.png",
    "hubble_deep_field.jpg",
    "ihc.png",
    "motorcycle_left.png",
    "motorcycle_right.png",
    "retina.jpg",
    "rocket.jpg",
)
"""The colour photographs among scikit-image's bundled files. Synthetic images (the colour
wheel, the phantom, and the chessboard, which *is* a checkerboard) are left out on purpose."""


def _skimage_data_dir() -> Path:
    import skimage.data

    return Path(os.path.dirname(skimage.data.__file__))


def embedded_photographs() -> dict[str, torch.Tensor]:
    """The colour photographs bundled with scikit-image, as float tensors (3, H, W) in [0, 1].

    Keys are file stems (``"astronaut"``, ``"chelsea"``, ...), in the order of
    :data:`PHOTOGRAPHS`; files missing from the installed scikit-image are skipped.

    Example:
        >>> photos = embedded_photographs()
        >>> photos["astronaut"].shape
        torch.Size([3, 512, 512])
    """
    root = _skimage_data_dir()
    return {
        Path(name).stem: load_image(root / name) for name in PHOTOGRAPHS if (root / name).exists()
    }


def to_tensor(array: np.ndarray) -> torch.Tensor:
    """An image array (H, W) or (H, W, C), integer or float, as a float tensor (C, H, W).

    Integers are scaled by their type's maximum (uint8 by 255, uint16 by 65535), so the result
    lies in [0, 1]; floats are kept as they are.
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


def decode(path: str | os.PathLike[str], max_pixels: int | None = None) -> np.ndarray:
    """Decode an image file to an array (H, W) or (H, W, C) of its native integer type.

    Palette, CMYK and 1-bit images become RGB or grayscale; alpha is dropped (the artifacts of
    interest are in the colour). ``max_pixels`` (default: PIL's decompression-bomb limit) bounds
    W*H before anything is decoded: a larger image raises ``ValueError``.
    """
    from PIL import Image

    with Image.open(path) as im:
        limit = Image.MAX_IMAGE_PIXELS if max_pixels is None else max_pixels
        if limit is not None and im.width * im.height > limit:
            raise ValueError(
                f"image {os.fspath(path)!r} has {im.width}x{im.height} pixels, more than "
                f"max_pixels={limit}"
            )
        if im.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
            return np.asarray(im, dtype=np.uint16)
        if im.mode in ("I", "F"):
            return np.asarray(im)
        if im.mode not in ("L", "RGB"):
            im = im.convert("RGB" if im.mode not in ("1", "LA", "La") else "L")
        return np.asarray(im)


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


def _saturation(image: torch.Tensor) -> torch.Tensor:
    """HSV saturation (H, W) of an RGB tensor (3, H, W) in [0, 1]; zero for grayscale."""
    if image.shape[0] != 3:
        return torch.zeros(image.shape[1:])
    hi, lo = image.amax(dim=0), image.amin(dim=0)
    return (hi - lo) / hi.clamp(min=1e-6)


def random_crops(
    images: dict[str, torch.Tensor] | list[torch.Tensor],
    n: int,
    size: int,
    seed: int = 0,
    strong_colors: bool = True,
) -> torch.Tensor:
    """``n`` deterministic random ``size`` x ``size`` crops of ``images``: (n, C, size, size).

    Each crop picks an image uniformly, then a position; with ``strong_colors`` the position is
    drawn from 16 candidates with probability proportional to the crop's mean saturation,
    because checkerboards show most in strong colours (Odena et al. 2016). All images must
    have the same number of channels and be at least ``size`` on each side.

    Example:
        >>> random_crops(embedded_photographs(), n=4, size=64).shape
        torch.Size([4, 3, 64, 64])
    """
    n, size = v.positive_int("n", n), v.positive_int("size", size)
    pool = list(images.values()) if isinstance(images, dict) else list(images)
    if not pool:
        raise ValueError("images must not be empty")
    small = [tuple(im.shape[-2:]) for im in pool if min(im.shape[-2:]) < size]
    if small:
        raise ValueError(f"size must be at most each image's height and width, got {size}: {small}")
    gen = torch.Generator().manual_seed(seed)
    saturation = [_saturation(im) for im in pool] if strong_colors else None
    crops = []
    for _ in range(n):
        k = int(torch.randint(len(pool), (1,), generator=gen))
        h, w = pool[k].shape[-2:]
        ys = torch.randint(h - size + 1, (16,), generator=gen)
        xs = torch.randint(w - size + 1, (16,), generator=gen)
        if saturation is None:
            i = 0
        else:
            s = saturation[k]
            corners = zip(ys.tolist(), xs.tolist(), strict=True)
            weight = torch.stack([s[y : y + size, x : x + size].mean() for y, x in corners])
            weight = weight + 1e-3  # grayscale-like images still get crops
            i = int(torch.multinomial(weight, 1, generator=gen))
        y, x = int(ys[i]), int(xs[i])
        crops.append(pool[k][:, y : y + size, x : x + size])
    return torch.stack(crops)
