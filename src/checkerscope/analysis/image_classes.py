"""Images the checkerboard score is validated on: content it must not flag, content that is
periodic by design, and artifacts it must find.

Every maker takes or returns float images (C, H, W) with values in [0, 1], 8-bit quantized like
saved files, and draws its randomness from a ``torch.Generator``. Nothing is downloaded: the
sources are scikit-image's bundled files (:func:`bundled`). The set is assembled by
:func:`checkerscope.analysis.validation.build_classes`.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from checkerscope import checks as v


def quantize(x: torch.Tensor) -> torch.Tensor:
    """Clip to [0, 1] and round to 8 bits, as saving to PNG would."""
    return torch.round(x.clamp(0, 1) * 255) / 255


def bundled(name: str) -> torch.Tensor:
    """One of scikit-image's bundled images by stem (``"camera"``, ``"page"``, ...): (C, H, W),
    C = 1 for grey files and 3 otherwise (an alpha channel is dropped).

    Example:
        >>> bundled("camera").shape, bundled("chelsea").shape
        (torch.Size([1, 512, 512]), torch.Size([3, 300, 451]))
    """
    import skimage.data

    root = Path(skimage.data.__file__).parent
    path = next(
        (root / f"{name}{s}" for s in (".png", ".jpg") if (root / f"{name}{s}").exists()), None
    )
    if path is None:
        raise ValueError(f"name must be a bundled scikit-image file, got {name!r}")
    with Image.open(path) as im:
        im = im.convert("L" if im.mode in ("L", "I", "I;16", "1") else "RGB")
        return from_pil(im)


def to_pil(x: torch.Tensor) -> Image.Image:
    """An image (1 or 3, H, W) in [0, 1] as an 8-bit PIL image ("L" or "RGB")."""
    array = (quantize(x) * 255).byte().permute(1, 2, 0).numpy()
    return Image.fromarray(array[..., 0] if x.shape[0] == 1 else array)


def from_pil(im: Image.Image) -> torch.Tensor:
    """An 8-bit PIL image as (1 or 3, H, W) floats in [0, 1]."""
    array = np.asarray(im, dtype=np.float32) / 255
    return torch.from_numpy(array[None] if array.ndim == 2 else array.transpose(2, 0, 1).copy())


def uniform(gen: torch.Generator, low: float = 0.0, high: float = 1.0) -> float:
    """One draw from U(low, high)."""
    return low + (high - low) * float(torch.rand((), generator=gen))


def integer(gen: torch.Generator, low: int, high: int) -> int:
    """One integer drawn uniformly from ``low..high`` (both included)."""
    return int(torch.randint(low, high + 1, (1,), generator=gen))


def random_crop(image: torch.Tensor, h: int, w: int, gen: torch.Generator) -> torch.Tensor:
    """An ``h`` x ``w`` crop of ``image`` at a random place (the image must be large enough)."""
    y, x = (integer(gen, 0, n - m) for n, m in zip(image.shape[-2:], (h, w), strict=True))
    return image[:, y : y + h, x : x + w].clone()


def flat(h: int, w: int, gen: torch.Generator, channels: int = 3) -> torch.Tensor:
    """A flat image of one random grey level (0.1 to 0.9)."""
    return torch.full((channels, h, w), round(uniform(gen, 0.1, 0.9) * 255) / 255)


def _shade(gen: torch.Generator) -> float:
    """Black, white or a random 8-bit grey, each a third of the time."""
    return [0.0, 1.0, integer(gen, 0, 255) / 255][integer(gen, 0, 2)]


def with_frame(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """``x`` with a frame 1 to 3 pixels wide, black, white or grey, on all four sides.

    Example:
        >>> with_frame(torch.full((1, 8, 8), 0.5), torch.Generator())[0, 0, 0] != 0.5
        tensor(True)
    """
    x, t, shade = x.clone(), integer(gen, 1, 3), _shade(gen)
    x[..., :t, :] = x[..., -t:, :] = x[..., :, :t] = x[..., :, -t:] = shade
    return x


def with_axis_line(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """``x`` with one horizontal or vertical line, 1 or 2 pixels wide, anywhere (the edges too)."""
    x, t, shade = x.clone(), integer(gen, 1, 2), _shade(gen)
    h, w = x.shape[-2:]
    if uniform(gen) < 0.5:
        i = integer(gen, 0, h - t)
        x[..., i : i + t, :] = shade
    else:
        j = integer(gen, 0, w - t)
        x[..., :, j : j + t] = shade
    return x


def _line_ends(h: int, w: int, angle: float, gen: torch.Generator) -> list[tuple[float, float]]:
    cy, cx, reach = uniform(gen, 0, h), uniform(gen, 0, w), 2 * (h + w)
    dx, dy = reach * math.cos(angle), reach * math.sin(angle)
    return [(cx - dx, cy - dy), (cx + dx, cy + dy)]


def _angle(gen: torch.Generator) -> float:
    """A multiple of 45 degrees half of the time (the angles graphics favour), else any."""
    return math.pi / 4 * integer(gen, 0, 3) if uniform(gen) < 0.5 else uniform(gen, 0, math.pi)


def with_lines(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """``x`` with 1 to 3 straight aliased lines, 1 or 2 pixels wide, across it at any angle."""
    im = to_pil(x)
    draw = ImageDraw.Draw(im)
    for _ in range(integer(gen, 1, 3)):
        shade = round(_shade(gen) * 255)
        ends = _line_ends(*x.shape[-2:], _angle(gen), gen)
        draw.line(ends, fill=shade if im.mode == "L" else (shade,) * 3, width=integer(gen, 1, 2))
    return from_pil(im)


def straight_edge(h: int, w: int, gen: torch.Generator) -> torch.Tensor:
    """Two flat grey levels split by one aliased straight edge at any angle: (1, h, w)."""
    im = Image.new("L", (w, h), integer(gen, 0, 255))
    (x0, y0), (x1, y1) = _line_ends(h, w, _angle(gen), gen)
    nx, ny = y0 - y1, x1 - x0  # the normal's side of the edge is filled
    ImageDraw.Draw(im).polygon(
        [(x0, y0), (x1, y1), (x1 + nx, y1 + ny), (x0 + nx, y0 + ny)], fill=integer(gen, 0, 255)
    )
    return from_pil(im)


def letterboxed(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """``x`` with bars over 5-25% of its height (letterbox) or width (pillarbox) on both sides,
    black 80% of the time, else a random grey."""
    x = x.clone()
    shade = 0.0 if uniform(gen) < 0.8 else integer(gen, 0, 255) / 255
    axis = integer(gen, -2, -1)
    n = x.shape[axis]
    t = max(1, int(n * uniform(gen, 0.05, 0.25)))
    x.narrow(axis, 0, t).fill_(shade)
    x.narrow(axis, n - t, t).fill_(shade)
    return x


def enlarged(x: torch.Tensor, factor: int, method: str) -> torch.Tensor:
    """The top-left ``1/factor`` of ``x`` enlarged ``factor`` times with PIL's ``method``
    (``"nearest"``, ``"bilinear"`` or ``"bicubic"``): about ``x``'s size again.

    Example:
        >>> enlarged(torch.rand(3, 64, 48), 3, "nearest").shape
        torch.Size([3, 63, 48])
    """
    methods = {"nearest": Image.NEAREST, "bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}
    v.one_of("method", method, tuple(methods))
    h, w = (n // v.positive_int("factor", factor) for n in x.shape[-2:])
    small = to_pil(x[:, :h, :w])
    return from_pil(small.resize((w * factor, h * factor), methods[method]))


def jpeg_roundtrip(x: torch.Tensor, quality: int, subsampling: int = 2) -> torch.Tensor:
    """Encode an image (1 or 3, H, W) in [0, 1] as JPEG with PIL and decode it again.

    ``subsampling`` is PIL's, for RGB: 0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0 (PIL's default).

    Example:
        >>> jpeg_roundtrip(torch.rand(3, 16, 16), 50).shape
        torch.Size([3, 16, 16])
    """
    buffer = io.BytesIO()
    to_pil(x).save(buffer, "JPEG", quality=quality, subsampling=subsampling)
    with Image.open(io.BytesIO(buffer.getvalue())) as im:
        return from_pil(im.convert("L" if x.shape[0] == 1 else "RGB"))


_TEXT = (
    "the quick brown fox jumps over a lazy dog while checkerboard artifacts hide in pixel grids "
    "0123456789 LOREM IPSUM dolor sit amet, consectetur; (Section 4.2) -- total: 17.5%"
)
WORDS: tuple[str, ...] = tuple(_TEXT.split(" "))


def _font(
    gen: torch.Generator, low: int, high: int
) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """PIL's default font at a random size, or its old bitmap font a quarter of the time."""
    if uniform(gen) < 0.25:
        return ImageFont.load_default_imagefont()
    return ImageFont.load_default(size=integer(gen, low, high))


def text_page(h: int, w: int, gen: torch.Generator) -> torch.Tensor:
    """Lines of text at a fixed pitch, dark on light (or light on dark): (1, h, w).

    Example:
        >>> text_page(64, 96, torch.Generator()).shape
        torch.Size([1, 64, 96])
    """
    back = integer(gen, 200, 255) if uniform(gen) < 0.7 else integer(gen, 0, 60)
    im = Image.new("L", (w, h), back)
    draw, font = ImageDraw.Draw(im), _font(gen, 8, 24)
    pitch = int(font.getbbox("Hg")[3]) + integer(gen, 2, 8)
    for y in range(integer(gen, 0, 6), h, pitch):
        words = [WORDS[integer(gen, 0, len(WORDS) - 1)] for _ in range(w // 16 + 2)]
        draw.text((integer(gen, 0, 8), y), " ".join(words), fill=255 - back, font=font)
    return from_pil(im)


def ui_drawing(h: int, w: int, gen: torch.Generator) -> torch.Tensor:
    """A screenshot-like drawing: flat panels and buttons with borders, labels, rules: (3, h, w)."""

    def colour(low: int = 0, high: int = 255) -> tuple[int, ...]:
        return tuple(integer(gen, low, high) for _ in range(3))

    im = Image.new("RGB", (w, h), colour(180, 255))
    draw, font = ImageDraw.Draw(im), _font(gen, 10, 16)
    for _ in range(integer(gen, 3, 10)):
        x0, y0 = integer(gen, 0, w - 8), integer(gen, 0, h - 8)
        box = [x0, y0, integer(gen, x0 + 4, w), integer(gen, y0 + 4, h)]
        if uniform(gen) < 0.5:
            draw.rectangle(box, fill=colour(), outline=colour(), width=integer(gen, 0, 2))
        else:
            draw.rounded_rectangle(box, radius=integer(gen, 2, 8), fill=colour(), outline=colour())
        if uniform(gen) < 0.6:
            label = WORDS[integer(gen, 0, len(WORDS) - 1)]
            draw.text((x0 + 3, y0 + 2), label, fill=colour(0, 80), font=font)
    for _ in range(integer(gen, 0, 3)):
        y = integer(gen, 0, h - 1)
        draw.line([(0, y), (w, y)], fill=colour(100, 160), width=1)
    return from_pil(im)


def halftone(x: torch.Tensor, period: int, angle: float) -> torch.Tensor:
    """A clustered-dot halftone of ``x``'s grey: a screen of ``period`` pixels at ``angle``
    (radians), thresholded: (1, H, W), black and white."""
    grey = x.mean(dim=0)
    yy, xx = (t.float() for t in torch.meshgrid(*map(torch.arange, grey.shape), indexing="ij"))
    u = yy * math.cos(angle) - xx * math.sin(angle)
    w = yy * math.sin(angle) + xx * math.cos(angle)
    screen = (torch.cos(2 * math.pi * u / period) + torch.cos(2 * math.pi * w / period)) / 4 + 0.5
    return (grey > screen).float()[None]


def ordered_dither(x: torch.Tensor, n: int) -> torch.Tensor:
    """``x``'s grey dithered with the ``n`` x ``n`` Bayer matrix (``n``: a power of two): (1, H, W).

    Example:
        >>> ordered_dither(torch.full((1, 4, 4), 0.5), 2)[0]
        tensor([[1., 0., 1., 0.],
                [0., 1., 0., 1.],
                [1., 0., 1., 0.],
                [0., 1., 0., 1.]])
    """
    grey = x.mean(dim=0)
    bayer = torch.tensor([[0.0]])
    while bayer.shape[0] < n:
        bayer = torch.cat(
            [torch.cat([4 * bayer, 4 * bayer + 2], 1), torch.cat([4 * bayer + 3, 4 * bayer + 1], 1)]
        )
    h, w = grey.shape
    levels = ((bayer + 0.5) / bayer.numel()).repeat(-(-h // n), -(-w // n))[:h, :w]
    return (grey > levels).float()[None]


def pixel_art(h: int, w: int, gen: torch.Generator) -> torch.Tensor:
    """Blocks of 4, 8 or 16 pixels in a few flat colours, with 1-pixel grid lines 70% of the
    time, as drawn on a grid: (3, h, w)."""
    b = 2 ** integer(gen, 2, 4)
    cells = torch.randint(0, 6, (3, -(-h // b), -(-w // b)), generator=gen).float() / 5
    x = cells.repeat_interleave(b, 1).repeat_interleave(b, 2)[:, :h, :w].clone()
    if uniform(gen) < 0.7:
        x[:, ::b, :] = x[:, :, ::b] = 0.0
    return x


def pattern(kind: str, period: int, channels: int, h: int, w: int, seed: int) -> torch.Tensor:
    """A period-``period`` pattern (C, H, W) with values in {-1, +1}.

    ``"checkerboard"``: squares of side ``period / 2``, the same in every channel. ``"random"``:
    a random +-1 tile of ``period x period`` pixels per channel, so energy lands on the whole
    lattice of that period with random phases. The random tile is redrawn until it is not
    constant, since a constant tile is no pattern.

    Example:
        >>> pattern("checkerboard", 2, 1, 2, 4, seed=0)
        tensor([[[ 1., -1.,  1., -1.],
                 [-1.,  1., -1.,  1.]]])
    """
    period = v.positive_int("period", period)
    if kind == "checkerboard":
        i = torch.arange(h)[:, None] // max(period // 2, 1)
        j = torch.arange(w)[None, :] // max(period // 2, 1)
        tile = 1 - 2 * ((i + j) % 2).float()
        return tile.expand(channels, h, w).clone()
    v.one_of("kind", kind, ("checkerboard", "random"))
    gen = torch.Generator().manual_seed(seed)
    tiles = []
    for _ in range(channels):
        tile = torch.ones(period, period)
        while tile.min() == tile.max():
            tile = 1 - 2 * torch.randint(2, (period, period), generator=gen).float()
        tiles.append(tile)
    reps = (1, -(-h // period), -(-w // period))
    return torch.stack(tiles).repeat(reps)[:, :h, :w]


def planted(
    x: torch.Tensor, period: int, amplitude: float, gen: torch.Generator, part: float = 1.0
) -> torch.Tensor:
    """``x`` squeezed into [0.1, 0.9] plus a period-``period`` pattern (:func:`pattern`, a
    checkerboard or a random tile, half the time each) of ``amplitude`` (a fraction of the
    range), over a random rectangle of ``part`` of each side (1: everywhere), quantized.

    Example:
        >>> planted(torch.rand(3, 32, 32), 4, 0.02, torch.Generator(), part=0.5).shape
        torch.Size([3, 32, 32])
    """
    c, h, w = x.shape
    kind = "checkerboard" if uniform(gen) < 0.5 else "random"
    pat = pattern(kind, period, c, h, w, seed=integer(gen, 0, 2**31 - 1))
    if part < 1:
        mask = torch.zeros(h, w)
        ph, pw = max(period, round(h * part)), max(period, round(w * part))
        y0, x0 = integer(gen, 0, h - ph), integer(gen, 0, w - pw)
        mask[y0 : y0 + ph, x0 : x0 + pw] = 1
        pat = pat * mask
    return quantize(0.1 + 0.8 * x + amplitude * pat)
