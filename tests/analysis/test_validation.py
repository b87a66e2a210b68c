"""checkerscope.analysis.validation and image_classes: the validation set and its summary."""

from __future__ import annotations

import math

import pytest
import torch

from checkerscope.analysis import image_classes as I
from checkerscope.analysis import validation as V
from checkerscope.analysis.score import THRESHOLD, checkerboard_score


@pytest.fixture(scope="module")
def dev() -> dict[str, V.ImageClass]:
    return {c.name: c for c in V.build_classes("dev", n=4)}


def scores(cls: V.ImageClass) -> torch.Tensor:
    return torch.cat([checkerboard_score(x, color=cls.color) for x in cls.images])


def test_classes_are_deterministic_quantized_and_of_every_kind(dev) -> None:
    again = {c.name: c for c in V.build_classes("dev", n=4)}
    assert set(dev) == set(again) and {c.kind for c in dev.values()} == set(V.KINDS)
    for name, cls in dev.items():
        assert len(cls.images) >= 1, name
        for x, y in zip(cls.images, again[name].images, strict=True):
            assert torch.equal(x, y), name
            assert x.dim() == 3 and x.shape[0] in (1, 3) and min(x.shape[1:]) >= 4, name
            if cls.color == "luma":  # images, not gradients: 8-bit values in [0, 1]
                assert torch.equal(x, I.quantize(x)), name


def test_splits_draw_from_disjoint_files() -> None:
    dev, held = V.SPLITS["dev"], V.SPLITS["held_out"]
    for field in ("photos", "documents", "graphics", "chessboards"):
        assert not set(getattr(dev, field)) & set(getattr(held, field)), field


@pytest.mark.slow
def test_the_dev_split_separates(dev) -> None:
    """What the earlier planted set asserted, on the new set's dev split: planted patterns and
    random-init deconvolution and sub-pixel outputs rank above every photograph, JPEG and
    resize-convolution output, which all score below the threshold."""
    clean = torch.cat([scores(dev[n]) for n in ("photographs", "JPEG quality 50")])
    resize = scores(dev["resize-conv generator, random init"])
    assert (clean < THRESHOLD).all() and (resize < THRESHOLD).all()
    planted = torch.cat(
        [scores(c) for n, c in dev.items() if n.startswith("planted period") and "0.5%" not in n]
    )
    assert V.roc_auc(planted, clean) == 1.0
    for name in ("deconv generator, random init", "sub-pixel generator, random init"):
        assert V.roc_auc(scores(dev[name]), resize) == 1.0, name


def test_summary_counts_flags_and_auc() -> None:
    rows, auc = V.summarize(
        {"a": torch.tensor([1.0, 20.0, 3.0, math.nan]), "b": torch.tensor([30.0, 2.0])},
        {"a": "clean", "b": "artifact"},
        12.0,
    )
    assert [(r.name, r.n, r.above) for r in rows] == [("a", 4, 0.5), ("b", 2, 0.5)]
    assert rows[0].auc is None and rows[1].max == 30.0
    # b's 30 beats 1, 20, 3 and ties nothing; NaN ranks highest; b's 2 beats 1 only
    assert auc == pytest.approx((3 + 1) / 8)
    assert rows[1].auc == auc


def test_makers_do_what_they_say() -> None:
    gen = torch.Generator().manual_seed(0)
    grey = torch.full((1, 32, 40), 0.5)
    framed = I.with_frame(grey, gen)
    assert (framed[..., 0, :] == framed[..., -1, :]).all() and (framed[..., 16, 20] == 0.5)
    big = I.enlarged(torch.rand(1, 30, 40, generator=gen), 2, "nearest")
    assert torch.equal(big[..., ::2, :], big[..., 1::2, :])  # rows repeated
    part = I.planted(torch.zeros(1, 64, 64), 2, 0.04, gen, part=0.5)
    assert (part != I.quantize(torch.tensor(0.1))).sum() == 32 * 32  # a quarter carries it
    page = I.text_page(64, 128, gen)
    assert page.shape == (1, 64, 128) and page.unique().numel() > 2
    with pytest.raises(ValueError, match="name must be a bundled"):
        I.bundled("nope")
    with pytest.raises(ValueError, match="split must be one of"):
        V.build_classes("test")
