"""How strongly an image carries a periodic checkerboard: a spectral peak-to-background ratio.

Odena, Dumoulin & Olah (2016), "Deconvolution and Checkerboard Artifacts": a stride-``s``
transposed convolution with uneven overlap paints a pattern that repeats every ``s`` pixels, and
stacked layers repeat it every 2, 4, 8 ... pixels. A pattern of period ``p`` lives entirely on the
lattice of frequencies ``(a/p, b/p)`` cycles per pixel, so it shows as sharp peaks there.

This module checks arguments, cuts images into windows and turns energies into decibels; the
energies on each lattice are measured by :mod:`checkerscope.analysis.lattice`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from checkerscope import checks as v
from checkerscope.analysis.gradients import input_gradient
from checkerscope.analysis.lattice import window_energy
from checkerscope.analysis.spectra import as_image_batch

PERIODS: tuple[int, ...] = (2, 4, 8)
"""Periods searched when none is given: the footprints of one, two and three stride-2 layers."""

BLOCK = 8
"""Side of the JPEG block grid (and of MPEG/H.26x macroblock transforms)."""

TILE = 256
"""Side of the windows whose spectra are averaged, so that the score of a large image measures
the same thing as that of a 256 x 256 one instead of growing with the image's area."""

THRESHOLD = 12.0
"""Scores above this many dB are flagged. On the validation set (`benchmarks/score_validation.py`)
every clean photograph, crop and JPEG scored below it and every planted pattern (>= 1%) and
random-init transposed-convolution output above it."""

COLORS = ("luma", "mean")

_TILE_BATCH = 64  # tiles transformed at once
_BAND = 512  # rows converted to float at once by block_grid


def _check_periods(name: str, periods: Sequence[int], h: int, w: int) -> tuple[int, ...]:
    periods = tuple(v.positive_int(name, p) for p in periods)
    if not periods or any(p < 2 for p in periods):
        raise ValueError(f"{name} must be integers >= 2, got {periods!r}")
    too_big = [p for p in periods if 2 * p > min(h, w)]
    if too_big:
        raise ValueError(
            f"{name} {too_big} need images at least {2 * max(too_big)} pixels on each side, "
            f"got {h}x{w}"
        )
    # Images are cropped to a multiple of the periods' lcm, which must still hold each period twice.
    m = math.lcm(*periods)
    if min(h, w) // m * m < 2 * max(periods):
        raise ValueError(
            f"{name} {periods!r} are scored on a crop to a multiple of their lcm {m}, which a "
            f"{h}x{w} image leaves too small; use fewer periods or a larger image"
        )
    return periods


def default_periods(h: int, w: int) -> tuple[int, ...]:
    """The periods of :data:`PERIODS` that an ``h`` x ``w`` window holds twice on each side.

    Example:
        >>> default_periods(256, 256), default_periods(10, 300)
        ((2, 4, 8), (2, 4))
    """
    periods = tuple(p for p in PERIODS if 2 * p <= min(h, w))
    if not periods:
        raise ValueError(f"x must be at least 4x4 pixels to hold a period-2 pattern, got {h}x{w}")
    return periods


def tile_starts(n: int, tile: int) -> list[int]:
    """Start offsets of the fewest ``tile``-long windows, evenly spread, that cover ``0..n``."""
    if n <= tile:
        return [0]
    k = -(-n // tile)
    return [round(i * (n - tile) / (k - 1)) for i in range(k)]


def artifact_energy(
    x: torch.Tensor,
    periods: Sequence[int] = PERIODS,
    tile: int | None = TILE,
    color: str = "luma",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Energy on each period's peak lattice and the energy expected there from the background.

    ``x``: (B, C, H, W) or (C, H, W). Returns two tensors of shape (B, len(periods)): the summed
    power at the peaks, and the summed background estimate (median of each peak's ring / ln 2),
    each summed over the ``tile`` x ``tile`` windows that cover the image (Welch's average;
    ``tile=None`` takes the image whole). ``color="luma"`` scores RGB (C = 3) on its luma;
    ``"mean"``, and any other channel count, averages the channels' power spectra.
    Sums of these over parts of one image combine them, as for images too big to load whole.

    Example:
        >>> art, bg = artifact_energy(torch.rand(2, 3, 64, 64), periods=(2, 4))
        >>> art.shape, bg.shape
        (torch.Size([2, 2]), torch.Size([2, 2]))
    """
    x = as_image_batch("x", x, floating=False)
    v.one_of("color", color, COLORS)
    h, w = x.shape[-2:]
    th, tw = (h, w) if tile is None else (min(v.positive_int("tile", tile), n) for n in (h, w))
    periods = _check_periods("periods", periods, th, tw)
    corners = [(i, j) for i in tile_starts(h, th) for j in tile_starts(w, tw)]
    dtype = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32

    def energy(tiles: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        tiles = tiles.to(dtype)
        tiles = luma(tiles) if color == "luma" and tiles.shape[1] == 3 else tiles
        return window_energy(tiles, periods)

    if len(corners) == 1:
        return energy(x[..., :th, :tw])
    art = torch.zeros(x.shape[0], len(periods), dtype=dtype, device=x.device)
    bg = torch.zeros_like(art)
    # Tiles are converted to float a chunk at a time, so a uint8 image is never copied whole.
    chunk = max(1, _TILE_BATCH // x.shape[0])
    for k in range(0, len(corners), chunk):
        part = [x[..., i : i + th, j : j + tw] for i, j in corners[k : k + chunk]]
        a, b = energy(torch.cat(part))
        art += a.view(-1, x.shape[0], len(periods)).sum(dim=0)
        bg += b.view(-1, x.shape[0], len(periods)).sum(dim=0)
    return art, bg


def to_decibels(artifact: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
    """``10*log10(artifact / background)``, floored at 0 dB (no more than the background)."""
    return 10 * torch.log10(torch.clamp(artifact / background, min=1.0))


def period_scores(
    x: torch.Tensor,
    periods: Sequence[int] | None = None,
    tile: int | None = TILE,
    color: str = "luma",
) -> torch.Tensor:
    """The checkerboard score of each period separately: (B, C, H, W) -> (B, len(periods)) dB.

    ``periods=None`` takes those of (2, 4, 8) that fit (``2 * p`` pixels per side of a tile).
    See :func:`checkerboard_score` for the definition and the other arguments.

    Example:
        >>> period_scores(torch.rand(1, 3, 64, 64), periods=(2, 4, 8)).shape
        torch.Size([1, 3])
    """
    x = as_image_batch("x", x, floating=False)
    tile = None if tile is None else v.positive_int("tile", tile)
    if periods is None:
        sides = x.shape[-2:] if tile is None else [min(n, tile) for n in x.shape[-2:]]
        periods = default_periods(*sides)
    return to_decibels(*artifact_energy(x, periods, tile, color))


def single_image_scores(x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, ...]]:
    """Period scores (P,) in dB of one grey float image (1, H, W), and the periods: a scan's call.

    The periods are :func:`default_periods` of a ``TILE`` window, and the scores equal
    ``period_scores(x, periods)[0]``. An image that fits in one window is measured directly,
    without :func:`period_scores`' argument checks and tiling, which would cost a small image
    about a fifth of its scoring time; a scan checks each file once, here.

    Example:
        >>> scores, periods = single_image_scores(torch.rand(1, 96, 64))
        >>> scores.shape, periods
        (torch.Size([3]), (2, 4, 8))
    """
    if not (
        isinstance(x, torch.Tensor)
        and x.dim() == 3
        and x.shape[0] == 1
        and x.dtype in (torch.float32, torch.float64)
    ):
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        dtype = f" {x.dtype}" if isinstance(x, torch.Tensor) else ""
        raise ValueError(f"x must be one grey float image (1, H, W), got{dtype} {shape}")
    periods = default_periods(*(min(n, TILE) for n in x.shape[-2:]))
    if max(x.shape[-2:]) > TILE:
        return period_scores(x, periods)[0], periods
    return to_decibels(*window_energy(x[None], periods))[0], periods


def checkerboard_score(
    x: torch.Tensor, period: int | None = None, tile: int | None = TILE, color: str = "luma"
) -> torch.Tensor:
    """How far the energy of a period-``p`` pattern stands above the spectrum around it, in dB.

    ``x``: (B, C, H, W) or (C, H, W), any size and value range. Returns (B,).

    With ``P`` the power spectrum of the periodic component of an image (Moisan's
    periodic-plus-smooth decomposition, so the image edges leave no cross on the axes) and
    ``L_p`` the lattice of bins ``(a*H/p, b*W/p)``, DC excluded::

        score_p = 10 * log10( sum_t sum_{f in L_p} P_t(f) / sum_t sum_{f in L_p} B_t(f) ),
        B_t(f)  = median of P_t over the ring 2 <= |g - f|_inf <= 4 bins around f, / ln 2,

    floored at 0 dB, where ``t`` runs over the ``tile`` x ``tile`` windows that cover the image
    (one window if the image is smaller; ``tile=None``: the whole image).

    Why: a period-``p`` pattern puts all of its energy exactly on ``L_p`` (each window is
    cropped to a multiple of ``p``, dropping at most ``p - 1`` rows and columns, so those
    frequencies are bins), while the image around it has a spectrum that varies slowly, so the
    ring predicts what ``f`` would hold without a pattern; natural textures with strong high
    frequencies raise both and are not flagged. The median ignores other peaks and the ``/ ln 2``
    turns the median of exponentially distributed bin powers into their mean, so noise without a
    pattern scores about 0 dB. Summing over windows (Welch) keeps the score of a big image on
    the scale of a 256 x 256 one: a coherent pattern's score would otherwise grow with the area,
    and faint sensor patterns in large photographs would cross any fixed threshold.

    ``color="luma"`` scores RGB input on its BT.601 luma: the eye resolves fine luminance
    patterns far better than fine colour ones, and JPEG's chroma subsampling leaves a period-2
    colour pattern in every 4:2:0 photograph (and every PNG made from one) that luma does not
    see. ``color="mean"`` averages the power spectra of all channels (used for gradients).

    Invariance: the score is a ratio of powers, so ``a * x + b`` scores exactly as ``x`` for any
    scalar ``a != 0`` and any per-channel offset ``b`` (offsets only move DC, which is
    excluded). Different gains per channel change the luma (or the channel average) and with it
    the score.

    ``period=None`` returns the maximum over ``p`` in (2, 4, 8) (those that fit).

    Example:
        >>> x = torch.rand(1, 3, 64, 64)
        >>> x[..., ::2, ::2] += 0.5  # a strong period-2 pattern
        >>> bool(checkerboard_score(x, period=2) > 20)
        True
    """
    periods = None if period is None else (v.positive_int("period", period),)
    return period_scores(x, periods, tile, color).amax(dim=1)


def luma(x: torch.Tensor) -> torch.Tensor:
    """BT.601 luma, the ``Y`` that JPEG codes at full resolution: (B, 3, H, W) -> (B, 1, H, W).

    Grayscale input (C = 1) is returned as it is.

    Example:
        >>> luma(torch.ones(2, 3, 8, 8)).shape
        torch.Size([2, 1, 8, 8])
    """
    x = as_image_batch("x", x)
    if x.shape[1] == 1:
        return x
    if x.shape[1] != 3:
        raise ValueError(f"x must have 1 or 3 channels, got shape {tuple(x.shape)}")
    weights = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype, device=x.device)
    return torch.einsum("bchw,c->bhw", x, weights).unsqueeze(1)


def block_grid(x: torch.Tensor, color: str = "luma") -> torch.Tensor:
    """Blockiness of the 8x8 grid that JPEG codes in, in dB: (B, C, H, W) -> (B,).

    The mean squared step across the grid lines (between columns 8k-1 and 8k, and rows
    likewise) over the median of the mean squared steps at the other seven offsets, floored at
    0 dB. JPEG quantizes each 8x8 block on its own, so its blocks disagree at their borders,
    but with signs that vary from block to block, so the grid hardly shows in the spectral
    score; this measures it directly, for reporting beside the score. ``color`` as in
    :func:`checkerboard_score`. Integer images are converted a band of rows at a time.

    Example:
        >>> x = torch.rand(1, 1, 64, 64)
        >>> x[..., :, 8::8] += 1.0  # a step at every vertical grid line
        >>> bool(block_grid(x) > 3)
        True
    """
    x = as_image_batch("x", x, floating=False)
    v.one_of("color", color, COLORS)
    b, _, h, w = x.shape
    if min(h, w) < 2 * BLOCK:
        raise ValueError(f"x must be at least 16x16 pixels to show an 8x8 grid, got {h}x{w}")
    dtype = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32
    # Step j is between pixels j and j+1, so grid lines are at offset 7 (mod 8).
    n_h, n_v = (w - 1) // BLOCK * BLOCK, (h - 1) // BLOCK * BLOCK
    across = torch.zeros(b, BLOCK, dtype=dtype, device=x.device)
    down = torch.zeros_like(across)
    for r0 in range(0, h, _BAND):
        band = x[..., r0 : r0 + _BAND + 1, :].to(dtype)  # one extra row for the steps down
        band = luma(band) if color == "luma" and band.shape[1] == 3 else band
        rows = min(_BAND, h - r0)
        steps = band[..., :rows, 1:] - band[..., :rows, :-1]
        across += steps.square_().sum(dim=(1, 2))[:, :n_h].view(b, -1, BLOCK).sum(dim=1)
        steps = (band[..., 1:, :] - band[..., :-1, :]).square_().sum(dim=(1, 3))  # (B, rows)
        index = torch.arange(r0, r0 + steps.shape[1], device=x.device)
        keep = index < n_v
        down.index_add_(1, index[keep] % BLOCK, steps[:, keep])
    c = x.shape[1] if not (color == "luma" and x.shape[1] == 3) else 1
    offsets = across / (c * h * n_h / BLOCK) + down / (c * w * n_v / BLOCK)
    others = offsets[:, : BLOCK - 1].median(dim=1).values
    floor = (offsets.sum(dim=1) * torch.finfo(offsets.dtype).eps).clamp(
        min=torch.finfo(offsets.dtype).tiny
    )
    return to_decibels(offsets[:, BLOCK - 1], torch.maximum(others, floor))


def checkerboard_map(
    x: torch.Tensor, period: int | None = None, window: int = 64, stride: int | None = None
) -> torch.Tensor:
    """Where the checkerboard is: the score of each ``window`` x ``window`` patch, in dB.

    ``x``: (B, C, H, W) or (C, H, W) with H, W >= ``window``. Returns (B, nH, nW) with
    ``nH = (H - window) // stride + 1``; patch ``(i, j)`` starts at ``(i*stride, j*stride)``
    (``stride`` defaults to ``window // 2``). Patches are scored exactly as whole images by
    :func:`checkerboard_score`; upsample the map with ``F.interpolate`` to overlay it.

    Example:
        >>> checkerboard_map(torch.rand(2, 3, 128, 96), period=2, window=32).shape
        torch.Size([2, 7, 5])
    """
    x = as_image_batch("x", x)
    window = v.positive_int("window", window)
    stride = window // 2 if stride is None else v.positive_int("stride", stride)
    stride = max(stride, 1)
    b, c, h, w = x.shape
    if window > min(h, w):
        raise ValueError(f"window must be at most the image size {h}x{w}, got {window}")
    patches = F.unfold(x, window, stride=stride)  # (B, C*window*window, n)
    n_h, n_w = (h - window) // stride + 1, (w - window) // stride + 1
    patches = patches.transpose(1, 2).reshape(b * n_h * n_w, c, window, window)
    return checkerboard_score(patches, period).reshape(b, n_h, n_w)


def gradient_checkerboard(
    model: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    period: int | None = None,
    output: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """Checkerboard score of the gradient of ``model``'s output with respect to its input.

    Strided convolutions transpose into strided deconvolutions on the backward pass, so a
    discriminator or classifier can hand a generator (or a feature visualization) checkerboard
    gradients (Odena et al. 2016, "Artifacts in gradients"). ``output`` maps the model's output
    to one scalar per image (default: the sum over everything but the batch axis). ``x``:
    (B, C, H, W). Returns (B,) in dB. The model's parameters receive no gradient.

    Example:
        >>> disc = torch.nn.Conv2d(3, 8, kernel_size=3, stride=2)
        >>> gradient_checkerboard(disc, torch.rand(2, 3, 64, 64)).shape
        torch.Size([2])
    """
    grad = input_gradient(model, as_image_batch("x", x), output)
    return checkerboard_score(grad, period, color="mean")
