"""Image helpers: the bundled photographs, crops and the file loader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from checkerscope import data


def test_embedded_photographs_are_the_colour_photographs() -> None:
    photos = data.embedded_photographs()
    assert list(photos) == [Path(n).stem for n in data.PHOTOGRAPHS]
    assert "chessboard_RGB" not in photos
    for name, x in photos.items():
        assert x.dtype == torch.float32 and x.shape[0] == 3 and min(x.shape[1:]) >= 300, name
        assert float(x.min()) >= 0 and float(x.max()) <= 1, name
    assert photos["astronaut"].shape == (3, 512, 512)


@pytest.mark.parametrize(
    ("mode", "make", "expected"),
    [
        ("RGB", lambda a: a, lambda a: a / 255),
        ("L", lambda a: a[..., 0], lambda a: a[..., :1] / 255),
        ("RGBA", lambda a: np.dstack([a, a[..., :1]]), lambda a: a / 255),
        ("I;16", lambda a: a[..., 0].astype(np.uint16) * 257, lambda a: a[..., :1] / 255),
    ],
)
def test_load_image_modes(tmp_path: Path, mode: str, make, expected) -> None:
    a = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    path = tmp_path / "x.png"
    Image.fromarray(make(a)).save(path)
    x = data.load_image(path)
    want = torch.from_numpy(expected(a.astype(np.float64))).permute(2, 0, 1).float()
    torch.testing.assert_close(x, want)


def test_load_image_palette_and_bilevel(tmp_path: Path) -> None:
    Image.new("P", (8, 6), 3).save(tmp_path / "p.png")
    Image.new("1", (8, 6), 1).save(tmp_path / "b.png")
    assert data.load_image(tmp_path / "p.png").shape == (3, 6, 8)
    torch.testing.assert_close(data.load_image(tmp_path / "b.png"), torch.ones(1, 6, 8))


def test_load_image_pixel_cap(tmp_path: Path) -> None:
    Image.new("L", (40, 30)).save(tmp_path / "x.png")
    assert data.load_image(tmp_path / "x.png", max_pixels=1200).shape == (1, 30, 40)
    with pytest.raises(ValueError, match="more than max_pixels=1199"):
        data.load_image(tmp_path / "x.png", max_pixels=1199)


def test_random_crops_are_deterministic_and_favour_colour() -> None:
    photos = data.embedded_photographs()
    a = data.random_crops(photos, 6, 64, seed=1)
    assert a.shape == (6, 3, 64, 64)
    torch.testing.assert_close(a, data.random_crops(photos, 6, 64, seed=1))
    assert not torch.equal(a, data.random_crops(photos, 6, 64, seed=2))

    def saturation(c: torch.Tensor) -> float:
        hi, lo = c.amax(dim=1), c.amin(dim=1)
        return float(((hi - lo) / hi.clamp(min=1e-6)).mean())

    strong = data.random_crops(photos, 64, 64, seed=0, strong_colors=True)
    plain = data.random_crops(photos, 64, 64, seed=0, strong_colors=False)
    assert saturation(strong) > saturation(plain)


def test_bad_arguments() -> None:
    photos = {"a": torch.rand(3, 32, 32)}
    with pytest.raises(ValueError, match="size must be at most"):
        data.random_crops(photos, 1, 64)
    with pytest.raises(ValueError, match="n must be a positive integer, got 0"):
        data.random_crops(photos, 0, 16)
    with pytest.raises(ValueError, match="images must not be empty"):
        data.random_crops({}, 1, 16)
    with pytest.raises(ValueError, match="array must have shape"):
        data.to_tensor(np.zeros((2, 2, 2, 2)))
