"""Does the checkerboard score find checkerboards? A planted test set and its figures.

Clean images are crops of scikit-image's colour photographs; artifact images are the same crops
with a periodic pattern added (periods 2 and 4, amplitudes 1% to 8% of the range, a checkerboard
and a random period-``p`` tile), and the outputs of random-init generators that upsample with
transposed convolutions, against the same generators with resize-convolutions (Odena et al.
2016 show the artifacts before any training). Everything is 8-bit quantized, like saved images.
JPEG round trips of the photographs check that compression is not mistaken for an artifact.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
import torch

from checkerscope import checks as v
from checkerscope.analysis.score import checkerboard_score
from checkerscope.data import embedded_photographs, random_crops

AMPLITUDES: tuple[float, ...] = (0.01, 0.02, 0.04, 0.08)
PLANT_PERIODS: tuple[int, ...] = (2, 4)
JPEG_QUALITIES: tuple[int, ...] = (95, 75, 50, 30)
UPSAMPLERS: tuple[str, ...] = ("deconv", "subpixel", "subpixel_icnr", "resize_conv")
"""Generators compared: transposed convolution and plain sub-pixel convolution (checkerboards
at init), ICNR-initialized sub-pixel and resize-convolution (artifact-free at init)."""


def quantize(x: torch.Tensor) -> torch.Tensor:
    """Clip to [0, 1] and round to 8 bits, as saving to PNG would."""
    return torch.round(x.clamp(0, 1) * 255) / 255


def pattern(kind: str, period: int, channels: int, h: int, w: int, seed: int) -> torch.Tensor:
    """A period-``period`` pattern (C, H, W) with values in {-1, +1}.

    ``"checkerboard"``: squares of side ``period / 2``, the same in every channel. ``"random"``:
    a random +-1 tile of ``period x period`` pixels per channel, so energy lands on the whole
    lattice of that period with random phases. The random tile is redrawn until it is not
    constant, since a constant tile is no pattern.
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


def generated(upsample: str, n: int, seed: int = 0, size: int = 64) -> torch.Tensor:
    """``n`` images (n, 3, size, size) in [0, 1] from random-init DCGAN generators.

    :class:`checkerscope.models.DCGANGenerator` with ``upsample`` as its upsampler (``"deconv"``:
    stride-2 transposed convolutions; ``"resize_conv"``: nearest resize then convolution; any
    kind of :func:`checkerscope.nn.upsampler`), four images from each of ``ceil(n / 4)`` seeds,
    in eval mode so BatchNorm is the identity, as in the article's untrained samples.
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


def jpeg_roundtrip(x: torch.Tensor, quality: int, subsampling: int = 2) -> torch.Tensor:
    """Encode an RGB image (3, H, W) in [0, 1] as JPEG with PIL and decode it again.

    ``subsampling`` is PIL's: 0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0 (PIL's default).
    """
    from PIL import Image

    array = (quantize(x) * 255).byte().permute(1, 2, 0).numpy()
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "JPEG", quality=quality, subsampling=subsampling)
    buffer.seek(0)
    decoded = np.asarray(Image.open(buffer).convert("RGB"))
    return torch.from_numpy(decoded.copy()).permute(2, 0, 1).float() / 255


@dataclass(frozen=True)
class Validation:
    """Scores (dB) of every part of the planted test set; see :func:`validate`."""

    clean: torch.Tensor  # (n,) the clean crops
    planted: dict[tuple[str, int, float], torch.Tensor]  # (kind, period, amplitude) -> (n,)
    photographs: dict[str, float]  # whole photographs, all channels
    jpeg: dict[tuple[str, int], float]  # (photo, quality) -> score of the decoded JPEG
    jpeg_mean: dict[tuple[str, int], float]  # the same with color="mean", for comparison
    generators: dict[str, torch.Tensor]  # upsampler kind -> (n,)
    settings: dict[str, object] = field(default_factory=dict)

    def auc_planted(self, amplitude: float | None = None) -> float:
        """ROC AUC of planted against clean crops, over all amplitudes or one."""
        pos = [s for (_, _, a), s in self.planted.items() if amplitude in (None, a)]
        return roc_auc(torch.cat(pos), self.clean)

    def auc_generator(self, upsampler: str) -> float:
        """ROC AUC of ``upsampler``'s outputs against resize-convolution outputs."""
        return roc_auc(self.generators[upsampler], self.generators["resize_conv"])

    def mean_by_amplitude(self) -> dict[tuple[str, int, float], float]:
        """Mean score of each (kind, period, amplitude) cell."""
        return {k: float(s.mean()) for k, s in self.planted.items()}

    def monotone_fraction(self) -> float:
        """Fraction of (crop, kind, period) whose score rises strictly with every amplitude step."""
        series: dict[tuple[str, int], list[torch.Tensor]] = {}
        for (kind, period, _), s in sorted(self.planted.items()):
            series.setdefault((kind, period), []).append(s)
        rises = [(torch.stack(s).diff(dim=0) > 0).all(dim=0) for s in series.values()]
        return float(torch.cat(rises).double().mean())


def validate(
    n_crops: int = 64,
    size: int = 256,
    n_generated: int = 64,
    seed: int = 0,
    qualities: tuple[int, ...] = JPEG_QUALITIES,
) -> Validation:
    """Build the planted test set and score every part of it with :func:`checkerboard_score`.

    ``n_crops`` crops of ``size`` pixels (strong colours favoured), each with every pattern
    kind, period in (2, 4) and amplitude in (1%, 2%, 4%, 8%) planted; ``n_generated`` 64x64
    outputs of each random-init generator in :data:`UPSAMPLERS` (see :func:`generated`); the
    whole photographs; and each photograph through JPEG at ``qualities``, 4:2:0.

    Example:
        >>> result = validate(n_crops=4, size=64, n_generated=8)
        >>> 0.0 <= result.auc_planted() <= 1.0
        True
    """
    n_crops, size = v.positive_int("n_crops", n_crops), v.positive_int("size", size)
    n_generated = v.positive_int("n_generated", n_generated)
    photos = embedded_photographs()
    # Headroom for the largest amplitude: clipping would modulate the pattern by the clip mask
    # and spread its energy off the lattice. The score ignores the affine map itself.
    crops = quantize(0.1 + 0.8 * random_crops(photos, n_crops, size, seed=seed))
    clean = checkerboard_score(crops)
    planted = {}
    for kind in ("checkerboard", "random"):
        for period in PLANT_PERIODS:
            pats = torch.stack(
                [pattern(kind, period, 3, size, size, seed=seed + i) for i in range(n_crops)]
            )
            for a in AMPLITUDES:
                planted[kind, period, a] = checkerboard_score(quantize(crops + a * pats))
    photographs = {k: float(checkerboard_score(quantize(x))) for k, x in photos.items()}
    jpeg, jpeg_mean = {}, {}
    for k, x in photos.items():
        for q in qualities:
            decoded = jpeg_roundtrip(x, q)
            jpeg[k, q] = float(checkerboard_score(decoded))
            jpeg_mean[k, q] = float(checkerboard_score(decoded, color="mean"))
    generators = {up: checkerboard_score(generated(up, n_generated, seed)) for up in UPSAMPLERS}
    settings = {
        "n_crops": n_crops,
        "size": size,
        "n_generated": n_generated,
        "seed": seed,
        "qualities": qualities,
    }
    return Validation(clean, planted, photographs, jpeg, jpeg_mean, generators, settings)
