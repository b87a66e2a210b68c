"""Does the checkerboard score find checkerboards, and only them? The validation set.

Classes of images (:class:`ImageClass`) of three kinds: clean content that must not be flagged
(photographs, frames, lines, edges, letterbox bars, enlargements, JPEG, text, graphics, the
input gradients of models without strided layers), content that is periodic by design and is
reported apart (halftones, dithering, pixel art, chessboards), and artifacts that must be found
(planted patterns of periods 2, 4 and 8, patterns on part of the image, random-init generators
with transposed or sub-pixel convolutions, the input gradients of strided models). Two splits
draw them from disjoint scikit-image files and seeds: ``"dev"``, on which the rule was fixed,
and ``"held_out"``, larger and scored once the rule was fixed. See
``benchmarks/score_validation.py``, which adds trained generators and prints the README table.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from checkerscope import checks as v
from checkerscope.analysis import image_classes as I
from checkerscope.analysis.gradients import input_gradient
from checkerscope.analysis.image_classes import jpeg_roundtrip, quantize

AMPLITUDES: tuple[float, ...] = (0.005, 0.01, 0.02, 0.04)
"""Planted pattern amplitudes, as fractions of the image's range."""

PLANT_PERIODS: tuple[int, ...] = (2, 4, 8)
JPEG_QUALITIES: tuple[int, ...] = (10, 20, 30, 50, 75, 95)
UPSAMPLERS: tuple[str, ...] = ("deconv", "subpixel", "subpixel_icnr", "resize_conv")
"""Generators compared: transposed convolution and plain sub-pixel convolution (checkerboards
at init), ICNR-initialized sub-pixel and resize-convolution (artifact-free at init)."""

KINDS: tuple[str, ...] = ("clean", "periodic", "artifact")

SIZES: tuple[tuple[int, int], ...] = (
    (256, 256), (128, 128), (64, 64), (96, 160), (200, 300), (384, 384), (48, 80), (512, 400),
)  # fmt: skip
"""Sizes of the clean crops, small to large, square and not."""


@dataclass(frozen=True)
class Split:
    """The scikit-image files one split draws from (by stem), and its seed offset."""

    photos: tuple[str, ...]
    documents: tuple[str, ...]
    graphics: tuple[str, ...]
    chessboards: tuple[str, ...]
    seed: int


SPLITS: dict[str, Split] = {
    "dev": Split(
        ("astronaut", "chelsea", "coffee", "ihc", "camera", "moon", "brick", "gravel"),
        ("text",),
        ("color",),
        ("chessboard_GRAY",),
        seed=1000,
    ),
    "held_out": Split(
        (
            "hubble_deep_field", "motorcycle_left", "motorcycle_right", "retina", "rocket",
            "coins", "cell", "grass", "clock_motion",
        ),
        ("page",),
        ("logo",),
        ("chessboard_RGB",),
        seed=2000,
    ),
}  # fmt: skip


@dataclass(frozen=True)
class ImageClass:
    """A named class of images of one kind (:data:`KINDS`), scored with ``color``."""

    name: str
    kind: str
    images: tuple[torch.Tensor, ...]
    color: str = "luma"


def generated(upsample: str, n: int, seed: int = 0, size: int = 64) -> torch.Tensor:
    """``n`` images (n, 3, size, size) in [0, 1] from random-init DCGAN generators.

    :class:`checkerscope.models.DCGANGenerator` with ``upsample`` as its upsampler (``"deconv"``:
    stride-2 transposed convolutions; ``"resize_conv"``: nearest resize then convolution; any
    kind of :func:`checkerscope.nn.upsampler`), four images from each of ``ceil(n / 4)`` seeds,
    in eval mode so BatchNorm is the identity, as in the article's untrained samples.

    Example:
        >>> generated("deconv", 2, size=16).shape
        torch.Size([2, 3, 16, 16])
    """
    from checkerscope.models import DCGANGenerator

    images = []
    for i in range(-(-v.positive_int("n", n) // 4)):
        torch.manual_seed(seed + i)
        model = DCGANGenerator(nz=64, ngf=32, image_size=size, upsample=upsample).eval()
        z = torch.randn(4, 64, generator=torch.Generator().manual_seed(seed + i))
        with torch.no_grad():
            images.append(model(z))
    return quantize(torch.cat(images)[:n] * 0.5 + 0.5)


def roc_auc(positive: torch.Tensor, negative: torch.Tensor) -> float:
    """Area under the ROC curve: P(positive > negative) + P(tie) / 2 (Mann-Whitney)."""
    diff = positive.flatten()[:, None] - negative.flatten()[None, :]
    return float((diff > 0).double().mean() + 0.5 * (diff == 0).double().mean())


def model_gradients(strided: bool, n: int, gen: torch.Generator) -> tuple[torch.Tensor, ...]:
    """Input gradients (3, 64, 64) of ``n`` small random models: convolutions of stride 1 with
    zero padding (flat inside, a frame at the border), or with stride 2 (checkerboards)."""
    grads = []
    for i in range(n):
        torch.manual_seed(int(torch.randint(2**31, (1,), generator=gen)))
        k = (3, 5)[i % 2]
        if strided:
            model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, k, stride=2), torch.nn.ReLU())
        elif i % 3 == 0:
            model = torch.nn.Conv2d(3, 3, 3, padding=1)  # the model
        else:
            model = torch.nn.Sequential(
                torch.nn.Conv2d(3, 8, k, padding=k // 2), torch.nn.ReLU(), torch.nn.Conv2d(8, 1, 3)
            )
        grads.append(input_gradient(model, torch.rand(1, 3, 64, 64, generator=gen))[0])
    return tuple(grads)


def build_classes(split: str = "held_out", n: int = 40, seed: int = 0) -> list[ImageClass]:
    """The validation set of ``split`` (:data:`SPLITS`): ``n`` images per class (half that for
    periodic content and for each planted period and amplitude), deterministic in ``seed``.

    Example:
        >>> classes = build_classes("dev", n=2)
        >>> {c.kind for c in classes} == set(KINDS), classes[0].name
        (True, 'photographs')
    """
    spec = SPLITS[v.one_of("split", split, tuple(SPLITS))]
    n = v.positive_int("n", n)
    gen = torch.Generator().manual_seed(spec.seed + seed)
    photos = [I.bundled(name) for name in spec.photos]

    def crops(k: int, sizes: tuple[tuple[int, int], ...]) -> list[torch.Tensor]:
        out = []
        while len(out) < k:
            h, w = sizes[I.integer(gen, 0, len(sizes) - 1)]
            pool = [p for p in photos if p.shape[1] >= h and p.shape[2] >= w]
            if pool:
                out.append(I.random_crop(pool[I.integer(gen, 0, len(pool) - 1)], h, w, gen))
        return out

    def each(
        fn: Callable[[torch.Tensor], torch.Tensor],
        k: int = n,
        sizes: tuple[tuple[int, int], ...] = SIZES,
    ) -> tuple[torch.Tensor, ...]:
        return tuple(fn(x) for x in crops(k, sizes))

    def sides(x: torch.Tensor) -> tuple[int, int]:
        return x.shape[-2], x.shape[-1]

    def pages(names: tuple[str, ...]) -> tuple[torch.Tensor, ...]:
        pool = [I.bundled(name) for name in names]
        out = []
        for _ in range(n):
            page = pool[I.integer(gen, 0, len(pool) - 1)]
            h, w = (I.integer(gen, min(48, s), min(256, s)) for s in page.shape[-2:])
            out.append(I.random_crop(page, h, w, gen))
        return tuple(out)

    def on_flat(fn: Callable[..., torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
        return lambda x: fn(I.flat(*sides(x), gen), gen)

    def period() -> int:
        return 2 ** I.integer(gen, 1, 3)

    clean = [
        ("photographs", each(quantize) + tuple(quantize(p) for p in photos)),
        ("photo with a frame (1-3 px)", each(lambda x: I.with_frame(x, gen))),
        (
            "flat grey with a frame or a line",
            each(on_flat(I.with_frame), n // 2) + each(on_flat(I.with_axis_line), n - n // 2),
        ),
        ("photo with a horizontal or vertical line", each(lambda x: I.with_axis_line(x, gen))),
        ("photo with lines at any angle", each(lambda x: I.with_lines(x, gen))),
        ("flat grey with lines at any angle", each(on_flat(I.with_lines))),
        ("straight edge between two flat tones", each(lambda x: I.straight_edge(*sides(x), gen))),
        ("letterbox or pillarbox bars", each(lambda x: I.letterboxed(x, gen))),
    ]
    for method in ("nearest", "bilinear", "bicubic"):
        for f in (2, 3, 4):
            images = each(lambda x: I.enlarged(x, f, method))  # noqa: B023 (called at once)
            clean.append((f"{method}-enlarged x{f}", images))
    for q in JPEG_QUALITIES:
        images = each(lambda x: jpeg_roundtrip(x, q, I.integer(gen, 0, 2)))  # noqa: B023
        clean.append((f"JPEG quality {q}", images))
    clean += [
        ("rendered text", each(lambda x: I.text_page(*sides(x), gen))),
        (f"document crops ({', '.join(spec.documents)})", pages(spec.documents)),
        (f"flat graphics ({', '.join(spec.graphics)})", pages(spec.graphics)),
        ("UI drawings", each(lambda x: I.ui_drawing(*sides(x), gen))),
        ("resize-conv generator, random init", tuple(generated("resize_conv", n, spec.seed))),
        ("ICNR sub-pixel generator, random init", tuple(generated("subpixel_icnr", n, spec.seed))),
    ]
    classes = [ImageClass(name, "clean", images) for name, images in clean]
    gradients = model_gradients(False, n, gen)
    classes.append(ImageClass("input gradient, stride-1 models", "clean", gradients, "mean"))
    half = max(1, n // 2)
    board = I.bundled(spec.chessboards[0])
    periodic = [
        (
            "halftone (period 4, 6 or 8)",
            each(lambda x: I.halftone(x, 2 * I.integer(gen, 2, 4), I.uniform(gen, 0, 1)), half),
        ),
        ("ordered dither (Bayer 2, 4, 8)", each(lambda x: I.ordered_dither(x, period()), half)),
        ("pixel art on a grid", each(lambda x: I.pixel_art(*sides(x), gen), half)),
        (
            f"chessboard crops ({spec.chessboards[0]})",
            tuple(I.random_crop(board, s, s, gen) for s in (48, 64, 100, 128, 200)[:half]),
        ),
    ]
    classes += [ImageClass(name, "periodic", images) for name, images in periodic]
    square = ((256, 256),)
    for p in PLANT_PERIODS:
        for a in AMPLITUDES:
            images = each(lambda x: I.planted(x, p, a, gen), half, square)  # noqa: B023
            classes.append(ImageClass(f"planted period {p}, {a:.1%}", "artifact", images))
    small = ((48, 80), (64, 64), (96, 160), (128, 128))
    artifacts = [
        (
            "planted period 2-8, 1-2%, small images",
            each(lambda x: I.planted(x, period(), I.uniform(gen, 0.01, 0.02), gen), n, small),
        ),
        (
            "pattern on a quarter of the image, 2%",
            each(lambda x: I.planted(x, period(), 0.02, gen, part=0.5), n, square),
        ),
        ("deconv generator, random init", tuple(generated("deconv", n, spec.seed))),
        ("sub-pixel generator, random init", tuple(generated("subpixel", n, spec.seed))),
        ("input gradient, strided models", model_gradients(True, n, gen)),
    ]
    classes += [
        ImageClass(name, "artifact", images, "mean" if "gradient" in name else "luma")
        for name, images in artifacts
    ]
    return classes


@dataclass(frozen=True)
class ClassResult:
    """How one class scored: its size, the fraction above the threshold, and the highest and
    95th-percentile scores (dB); ``auc``: of an artifact class against all clean images."""

    name: str
    kind: str
    n: int
    above: float
    p95: float
    max: float
    auc: float | None = None


def summarize(
    scores: dict[str, torch.Tensor], kinds: dict[str, str], threshold: float
) -> tuple[list[ClassResult], float]:
    """Per-class results of ``scores`` (class name -> (n,) dB) and the ROC AUC of all artifact
    images against all clean ones. NaN scores count as flagged and rank highest.

    Example:
        >>> rows, auc = summarize(
        ...     {"a": torch.tensor([1.0, 2.0]), "b": torch.tensor([30.0])},
        ...     {"a": "clean", "b": "artifact"},
        ...     12.0,
        ... )
        >>> [(r.name, r.above) for r in rows], auc
        ([('a', 0.0), ('b', 1.0)], 1.0)
    """
    ranked = {k: torch.nan_to_num(s.double(), nan=math.inf) for k, s in scores.items()}
    clean = torch.cat([s for k, s in ranked.items() if kinds[k] == "clean"])
    rows = []
    for name, s in ranked.items():
        auc = roc_auc(s, clean) if kinds[name] == "artifact" else None
        finite = s[s.isfinite()] if s.isfinite().any() else s
        rows.append(
            ClassResult(
                name, kinds[name], len(s), float((s > threshold).double().mean()),
                float(torch.quantile(finite, 0.95)), float(s.max()), auc,
            )
        )  # fmt: skip
    artifacts = [s for k, s in ranked.items() if kinds[k] == "artifact"]
    return rows, roc_auc(torch.cat(artifacts), clean) if artifacts else math.nan
