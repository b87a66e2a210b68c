"""Images to learn from: the colour photographs shipped with scikit-image, a folder of the
user's, and deterministic random crops of them (:class:`ImageSource`, what experiments read).

Only files already on disk are used (some ``skimage.data`` functions download with pooch; those
are never called), so everything here works offline. Files are found and decoded by
:mod:`checkerscope.images`.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from checkerscope import checks as v
from checkerscope.images import iter_image_files, load_image

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


class ImageSource:
    """The images experiments learn from: the embedded photographs, or every image in a folder.

    ``folder=None`` takes :func:`embedded_photographs`; a folder takes every file
    :func:`checkerscope.images.iter_image_files` finds in it, in sorted path order. Images are
    loaded once, on first use, as RGB (3, H, W) in [0, 1]. ``crops(n, size, seed)`` gives
    deterministic random crops, favouring strong colours unless ``strong_colors=False`` (see
    :func:`random_crops`).

    Example:
        >>> ImageSource().crops(2, 64, seed=0).shape
        torch.Size([2, 3, 64, 64])
    """

    def __init__(self, folder: str | Path | None = None, strong_colors: bool = True) -> None:
        if folder is not None and not Path(folder).is_dir():
            raise ValueError(f"data must be a folder of images, got {str(folder)!r}")
        self.folder = None if folder is None else Path(folder)
        self.strong_colors = strong_colors
        self._images: list[torch.Tensor] | None = None

    @property
    def source(self) -> str:
        """``"embedded"``, or the folder the images come from."""
        return "embedded" if self.folder is None else str(self.folder)

    def images(self) -> list[torch.Tensor]:
        """All source images as RGB tensors (3, H, W) in [0, 1] (grey images are repeated)."""
        if self._images is None:
            if self.folder is None:
                images = list(embedded_photographs().values())
            else:
                images = [load_image(p) for p in sorted(iter_image_files([self.folder]))]
            self._images = [im.expand(3, -1, -1) if im.shape[0] == 1 else im[:3] for im in images]
            if not self._images:
                raise ValueError(f"data folder {self.source!r} holds no image files")
        return self._images

    def crops(self, n: int, size: int, seed: int) -> torch.Tensor:
        """``n`` deterministic random crops (n, 3, size, size) of the images large enough."""
        pool = [im for im in self.images() if min(im.shape[-2:]) >= size]
        if not pool:
            raise ValueError(f"no image in data {self.source!r} is at least {size}x{size} pixels")
        return random_crops(pool, n, size, seed, strong_colors=self.strong_colors)
