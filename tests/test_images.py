"""Image files: the suffix list, the folder walk, whole and banded decoding, tensors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from checkerscope import images


def save(array: np.ndarray, path: Path, **kw: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **kw)
    return path


def photo(seed: int = 0) -> np.ndarray:
    """A smooth 96 x 96 RGB image (JPEG keeps it close), as uint8."""
    yy, xx = np.mgrid[0:96, 0:96]
    rng = np.random.default_rng(seed)
    channels = [np.sin(xx / (9 + c) + rng.random() * 6) + np.cos(yy / (13 + c)) for c in range(3)]
    return ((np.dstack(channels) + 2) * 60).astype(np.uint8)


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
    x = images.load_image(path)
    want = torch.from_numpy(expected(a.astype(np.float64))).permute(2, 0, 1).float()
    torch.testing.assert_close(x, want)


def test_load_image_palette_and_bilevel(tmp_path: Path) -> None:
    Image.new("P", (8, 6), 3).save(tmp_path / "p.png")
    Image.new("1", (8, 6), 1).save(tmp_path / "b.png")
    assert images.load_image(tmp_path / "p.png").shape == (3, 6, 8)
    torch.testing.assert_close(images.load_image(tmp_path / "b.png"), torch.ones(1, 6, 8))


def test_load_image_pixel_cap(tmp_path: Path) -> None:
    Image.new("L", (40, 30)).save(tmp_path / "x.png")
    assert images.load_image(tmp_path / "x.png", max_pixels=1200).shape == (1, 30, 40)
    with pytest.raises(ValueError, match="more than max_pixels=1199"):
        images.load_image(tmp_path / "x.png", max_pixels=1199)


def test_to_tensor_scales_integers_and_refuses_other_shapes() -> None:
    x = images.to_tensor(np.array([[0, 65535]], dtype=np.uint16))
    torch.testing.assert_close(x, torch.tensor([[[0.0, 1.0]]]))
    with pytest.raises(ValueError, match="array must have shape"):
        images.to_tensor(np.zeros((2, 2, 2, 2)))


def test_folder_walk_finds_image_suffixes_in_order(tmp_path: Path) -> None:
    for name in ["b.PNG", "a.jpeg", "sub/x.webp", "sub/deep/y.TIFF", "c.bmp", "d.gif", "e.txt"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).touch()
    found = [p.relative_to(tmp_path).as_posix() for p in images.iter_image_files([tmp_path])]
    assert found == ["a.jpeg", "b.PNG", "c.bmp", "sub/x.webp", "sub/deep/y.TIFF"]
    # A file given by name is taken whatever its suffix.
    assert list(images.iter_image_files([tmp_path / "e.txt"])) == [tmp_path / "e.txt"]
    assert set(images.SUFFIXES) == {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp"}


def test_missing_path_is_a_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="paths must exist"):
        list(images.iter_image_files([tmp_path / "nope"]))


def test_band_decoding_reads_the_top_rows(tmp_path: Path) -> None:
    whole_limit = 96 * 96
    full = images.read_image(save(photo(), tmp_path / "clean.png"), whole_limit)[0]
    for name in ("band.png", "band.jpg"):
        path = save(photo(), tmp_path / name, quality=95)
        band, width, height, _ = images.read_image(path, max_pixels=96 * 40)
        assert (width, height, band.shape[0]) == (96, 96, 40)
        whole = full if name.endswith(".png") else images.read_image(path, whole_limit)[0]
        np.testing.assert_array_equal(band, whole[:40])
    webp = save(photo(), tmp_path / "photo.webp", lossless=True)
    with pytest.raises(ValueError, match="cannot be decoded a band of rows"):
        images.read_image(webp, max_pixels=96 * 40)


def test_read_image_and_decode_agree_on_every_mode(tmp_path: Path) -> None:
    a = photo()
    cases = {
        "rgb.png": a,
        "grey.png": a[..., 0],
        "rgba.png": np.dstack([a, a[..., :1]]),
        "grey16.png": a[..., 0].astype(np.uint16) * 257,
    }
    for name, array in cases.items():
        path = save(array, tmp_path / name)
        whole = images.decode(path)
        read = images.read_image(path, 96 * 96)
        np.testing.assert_array_equal(read.array, whole)
        assert whole.dtype == (np.uint16 if "16" in name else np.uint8), name
        luma = images.read_image(path, 96 * 96, luma=True).array
        assert luma.dtype == np.float32 and luma.shape == (96, 96), name


def test_iter_files_walks_by_the_given_suffixes(tmp_path: Path) -> None:
    for name in ("a.wav", "b.PNG", "sub/c.FLAC", "sub/d.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).touch()
    found = [
        p.relative_to(tmp_path).as_posix() for p in images.iter_files([tmp_path], (".wav", ".flac"))
    ]
    assert found == ["a.wav", "sub/c.FLAC"]
    assert list(images.iter_files([tmp_path / "sub" / "d.txt"], (".wav",))) == [
        tmp_path / "sub" / "d.txt"
    ]
