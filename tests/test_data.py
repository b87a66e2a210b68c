"""Images to learn from: the bundled photographs, crops, and the experiments' ImageSource."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from checkerscope import data
from checkerscope.images import load_image


def test_embedded_photographs_are_the_colour_photographs() -> None:
    photos = data.embedded_photographs()
    assert list(photos) == [Path(n).stem for n in data.PHOTOGRAPHS]
    assert "chessboard_RGB" not in photos
    for name, x in photos.items():
        assert x.dtype == torch.float32 and x.shape[0] == 3 and min(x.shape[1:]) >= 300, name
        assert float(x.min()) >= 0 and float(x.max()) <= 1, name
    assert photos["astronaut"].shape == (3, 512, 512)


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


def test_image_source_folder_gives_deterministic_rgb_crops(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(rng.integers(0, 255, (45, 36), dtype=np.uint8)).save(tmp_path / "b.jpg")
    Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(tmp_path / "small.png")
    source = data.ImageSource(tmp_path)
    crops = source.crops(6, 32, seed=1)
    assert crops.shape == (6, 3, 32, 32) and 0 <= float(crops.min()) <= float(crops.max()) <= 1
    assert torch.equal(crops, data.ImageSource(tmp_path).crops(6, 32, seed=1))
    assert source.source == str(tmp_path) and data.ImageSource().source == "embedded"
    with pytest.raises(ValueError, match=r"no image in data .* is at least 64x64 pixels"):
        source.crops(2, 64, seed=0)
    with pytest.raises(ValueError, match="data must be a folder of images, got"):
        data.ImageSource(tmp_path / "missing")


def test_image_source_reads_a_folder_in_sorted_path_order(tmp_path: Path) -> None:
    # The order decides which image each crop comes from, so it is the sorted paths, as the
    # experiments have always read them (a file beside a folder sorts by name, not first).
    rng = np.random.default_rng(1)
    (tmp_path / "notes.txt").write_text("not an image")
    for name in ["b.png", "a/z.png", "c/d.bmp", "a.tif", "skip.gif"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(tmp_path / name)
    loaded = data.ImageSource(tmp_path).images()
    expected = [load_image(tmp_path / n) for n in ["a/z.png", "a.tif", "b.png", "c/d.bmp"]]
    assert len(loaded) == len(expected)
    assert all(torch.equal(a, b) for a, b in zip(loaded, expected, strict=True))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no image files"):
        data.ImageSource(tmp_path / "empty").images()


def test_grey_images_are_repeated_to_rgb(tmp_path: Path) -> None:
    Image.fromarray(np.full((8, 8), 128, dtype=np.uint8)).save(tmp_path / "g.png")
    (image,) = data.ImageSource(tmp_path).images()
    assert image.shape == (3, 8, 8) and torch.equal(image[0], image[2])


def test_embedded_source_is_the_photographs_crops() -> None:
    crops = data.ImageSource().crops(4, 32, seed=5)
    expected = data.random_crops(data.embedded_photographs(), 4, 32, seed=5)
    assert torch.equal(crops, expected)
