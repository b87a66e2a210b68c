"""How strongly an image carries a periodic checkerboard: a spectral peak-to-background ratio.

Odena, Dumoulin & Olah (2016), "Deconvolution and Checkerboard Artifacts": a stride-``s``
transposed convolution with uneven overlap paints a pattern that repeats every ``s`` pixels, and
stacked layers repeat it every 2, 4, 8 ... pixels. A pattern of period ``p`` lives entirely on the
lattice of frequencies ``(a/p, b/p)`` cycles per pixel, so it shows as sharp peaks there.

This module checks arguments (once, here: every function below may be called directly) and turns
energies into decibels and verdicts; :mod:`checkerscope.analysis.welch` normalises, cuts images
into windows and picks an implementation, and :mod:`checkerscope.analysis.lattice` measures the
energies on each lattice.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from checkerscope import checks as v
from checkerscope.analysis.gradients import input_gradient
from checkerscope.analysis.lattice import CLASSES
from checkerscope.analysis.spectra import as_image_batch
from checkerscope.analysis.welch import IMPLS, welch_energy

PERIODS: tuple[int, ...] = (2, 4, 8)
"""Periods searched when none is given: the footprints of one, two and three stride-2 layers."""

BLOCK = 8
"""Side of the JPEG block grid (and of MPEG/H.26x macroblock transforms)."""

TILE = 256
"""Side of the windows whose spectra are averaged, so that the score of a large image measures
the same thing as that of a 256 x 256 one instead of growing with the image's area."""

THRESHOLD = 12.0
"""Scores above this many dB are flagged. Fixed on the ``dev`` split of the validation set
(``benchmarks/score_validation.py --split dev``) before the held-out split was scored, and not
moved since. The margin is thin: over dev seeds 0-5 (60 images per class) the highest clean
score is 11.8 dB (flat grey with lines at any angle). The README gives the held-out rates per
class."""

COLORS = ("luma", "mean")

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


def _tile_sides(x: torch.Tensor, tile: int | None) -> tuple[int, int]:
    h, w = x.shape[-2:]
    if tile is None:
        return h, w
    tile = v.positive_int("tile", tile)
    return min(tile, h), min(tile, w)


def _gray(color: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """How windows of ``color`` become what is scored: RGB's luma, or the channels as they are."""
    return (lambda t: luma(t) if t.shape[1] == 3 else t) if color == "luma" else (lambda t: t)


def _checked(
    x: torch.Tensor,
    periods: Sequence[int] | None,
    tile: int | None,
    color: str,
    impl: str,
) -> tuple[torch.Tensor, tuple[int, ...], tuple[int, int]]:
    """The arguments of every entry point, checked once: the batch, periods and tile sides."""
    x = as_image_batch("x", x, floating=False)
    v.one_of("color", color, COLORS)
    v.one_of("impl", impl, IMPLS)
    sides = _tile_sides(x, tile)
    periods = default_periods(*sides) if periods is None else periods
    return x, _check_periods("periods", periods, *sides), sides


def artifact_energy(
    x: torch.Tensor,
    periods: Sequence[int] = PERIODS,
    tile: int | None = TILE,
    color: str = "luma",
    impl: str = "auto",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Energy at each period's peaks, and the energy expected there from the background.

    ``x``: (B, C, H, W) or (C, H, W). Returns two tensors of shape (B, len(periods), 3): per
    period and per place (:data:`~checkerscope.analysis.lattice.CLASSES`: ``"lattice"``,
    ``"rows"``, ``"columns"``) the power at the peaks (on the lattice, those of the shell of
    own peaks that stands highest, each peak's weighed by the shell's mean background over its
    own, over the noise's maximum) and the summed background (see
    :mod:`checkerscope.analysis.lattice`), each summed over the ``tile`` x ``tile`` windows that
    cover the image (Welch's average; ``tile=None`` takes the image whole). ``color="luma"``
    scores RGB (C = 3) on its luma; ``"mean"``, and any other channel count, averages the
    channels' power spectra. ``impl``: see :data:`~checkerscope.analysis.welch.IMPLS`.
    Energies are those of the image at unit scale (:func:`~checkerscope.analysis.welch.unit_scale`),
    so sums over parts of one image combine them when the parts share its scale. Images with a
    NaN or infinite value give NaN (the rest of the batch is unaffected).

    Example:
        >>> art, bg = artifact_energy(torch.rand(2, 3, 64, 64), periods=(2, 4))
        >>> art.shape, bg.shape
        (torch.Size([2, 2, 3]), torch.Size([2, 2, 3]))
    """
    x, periods, sides = _checked(x, periods, tile, color, impl)
    return welch_energy(x, periods, sides, impl, _gray(color))


def to_decibels(artifact: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
    """``10*log10(artifact / background)``, floored at 0 dB (no more than the background).

    CPU tensors that need no gradient are converted in NumPy (a scan's case: a few small torch
    ops would cost it more than the conversion), others in torch; the two may differ in the
    last bit.

    Example:
        >>> to_decibels(torch.tensor([100.0, 0.5]), torch.tensor([1.0, 1.0])).round()
        tensor([20.,  0.])
    """
    if _plain(artifact) and _plain(background):
        ratio = artifact.numpy() / background.numpy()
        return torch.from_numpy(10 * np.log10(np.maximum(ratio, 1.0, dtype=ratio.dtype)))
    return 10 * torch.log10(torch.clamp(artifact / background, min=1.0))


def _plain(t: torch.Tensor) -> bool:
    """Whether ``t`` is a CPU tensor that NumPy can take as it is (no gradient to keep)."""
    return t.device.type == "cpu" and not (t.requires_grad and torch.is_grad_enabled())


def period_scores(
    x: torch.Tensor,
    periods: Sequence[int] | None = None,
    tile: int | None = TILE,
    color: str = "luma",
    impl: str = "auto",
) -> torch.Tensor:
    """The checkerboard score of each period separately: (B, C, H, W) -> (B, len(periods)) dB.

    ``periods=None`` takes those of (2, 4, 8) that fit (``2 * p`` pixels per side of a tile).
    Each period's score is the largest of its lattice's, rows' and columns' (see
    :func:`explain_score`). See :func:`checkerboard_score` for the definition and arguments.

    Example:
        >>> period_scores(torch.rand(1, 3, 64, 64), periods=(2, 4, 8)).shape
        torch.Size([1, 3])
    """
    x, periods, sides = _checked(x, periods, tile, color, impl)
    return to_decibels(*welch_energy(x, periods, sides, impl, _gray(color))).amax(dim=2)


class Explanation(NamedTuple):
    """What :func:`explain_score` found, for a batch of B images.

    ``score`` (B,): the checkerboard score in dB (NaN for an image with a non-finite value);
    ``period`` (B,): the period that scored it (0 where the score is NaN); ``where``: per image,
    where that period's energy sits, ``"lattice"`` (a pattern along both axes), ``"rows"`` (one
    that repeats down the rows) or ``"columns"`` (along the columns), ``None`` where the score is
    NaN; ``scores`` (B, P, 3): every period's score at each place, in the order of ``periods``
    and :data:`~checkerscope.analysis.lattice.CLASSES`. Ties (an image scoring 0 dB everywhere)
    go to the smallest period and to ``"lattice"``.
    """

    score: torch.Tensor
    period: torch.Tensor
    where: tuple[str | None, ...]
    scores: torch.Tensor
    periods: tuple[int, ...]


def explain_score(
    x: torch.Tensor,
    periods: Sequence[int] | None = None,
    tile: int | None = TILE,
    color: str = "luma",
    impl: str = "auto",
) -> Explanation:
    """The checkerboard score with its reasons: the period, and where its energy sits.

    Same arguments and score as :func:`checkerboard_score` (``periods=None``: those of (2, 4, 8)
    that fit); :func:`checkerboard_map` shows where in the image. On the 2-D lattice each
    period is scored on the peaks that no smaller period of ``periods`` owns, so a period-p
    checkerboard is reported as period p; the rows and columns read every peak of a period,
    and a pattern there can be reported as a multiple of its period.

    Example:
        >>> _ = torch.manual_seed(0)  # a period-4 row pattern is period-8 too: on some noise
        >>> x = torch.rand(1, 3, 64, 64)  # draws (14 of 200) the period reported is 8
        >>> x[..., ::4, :] += 0.3  # a bright row every 4 rows
        >>> verdict = explain_score(x)
        >>> int(verdict.period[0]), verdict.where[0], bool(verdict.score[0] > THRESHOLD)
        (4, 'rows', True)
    """
    x, periods, sides = _checked(x, periods, tile, color, impl)
    scores = to_decibels(*welch_energy(x, periods, sides, impl, _gray(color)))
    values = scores.detach().flatten(1).cpu().numpy()
    best = values.max(axis=1)  # NaN where an image had a non-finite value
    index = np.where(np.isnan(values), -1.0, values).argmax(axis=1)
    known = ~np.isnan(best)
    place, period = index % len(CLASSES), np.asarray(periods)[index // len(CLASSES)]
    where = tuple(CLASSES[i] if ok else None for i, ok in zip(place, known, strict=True))
    period = np.where(known, period, 0)
    score = scores.flatten(1).amax(dim=1) if not _plain(scores) else torch.from_numpy(best)
    return Explanation(score, torch.from_numpy(period).to(x.device), where, scores, periods)


def checkerboard_score(
    x: torch.Tensor,
    period: int | None = None,
    tile: int | None = TILE,
    color: str = "luma",
    impl: str = "auto",
) -> torch.Tensor:
    """How far the energy of a period-``p`` pattern stands above what the image around it
    predicts there, in dB. ``x``: (B, C, H, W) or (C, H, W), any size (at least 4 x 4) and
    value range. Returns (B,).

    A pattern of period ``p`` puts all of its energy on the bins ``(a*H/p, b*W/p)`` (each
    window is cropped to a multiple of ``p``, so those frequencies are bins). For each period
    and each of three places, the power there over the background expected there
    (:mod:`checkerscope.analysis.lattice` has the exact definition):

    - the 2-D lattice (``a, b != 0``): power of Moisan's periodic component, background the
      median of the ring ``2 <= |g - f|_inf <= 4`` around each peak or, if larger, of any of
      the four lines through it (row, column, both diagonals), ``/ ln 2``. Only the period's
      own peaks count (not those on the lattice of a smaller period scored with it: a
      period-4 pattern is not also a period-8 one). Each peak is taken over its own
      background and the ratios are averaged within each shell of peaks at the same distance
      from DC (as a sum: each peak's power times the shell's mean background over its own);
      the period's is the highest shell's, over the noise's expected highest (1 for period 2,
      1.4 for 4 and 2.0 for 8 among (2, 4, 8)). So the peaks nearest DC, where an image is
      strongest, do not drown a pattern elsewhere, and a pattern on a few peaks (a period-8
      checkerboard: 73% of its energy on the 4 nearest DC) is not diluted by the empty rest;
    - rows (``b = 0``) and columns (``a = 0``): power of the spectrum of the row (column) sums,
      background from that axis alone: the median of ``2 <= |k - k0| <= 8``, raised to the
      strongest other peak within half a lattice step relative to its own neighbours;

    each summed over the ``tile`` x ``tile`` windows that cover the image (Welch; ``tile=None``:
    the whole image), ``10 * log10`` of the ratio, floored at 0 dB; the score is the largest
    over places and periods (``period=None``: those of 2, 4, 8 that fit). The median ignores
    other peaks and ``/ ln 2`` turns the median of exponentially distributed bin powers into
    their mean, so noise scores about 0 dB; Welch keeps a big image on the scale of a 256 x 256
    one. :func:`explain_score` says which period and place scored.

    What scores low, and why:

    - a line, frame, letterbox bar or straight edge along an axis puts its energy along a whole
      frequency axis, smoothly, so an axis peak is no higher than its axis neighbours, and the
      2-D lattice holds none of it; a line or edge at another angle puts a line of energy
      through the spectrum, which the line backgrounds see (a frame on flat grey, a 1-pixel top
      row, the input gradient of a stride-1 convolution, flat except at the border, likewise);
    - an image enlarged by pixel repetition or bilinear interpolation has exact zeros on its
      enlargement's lattice; the axes are read raw, so the zeros stay zeros (the periodic
      component would fill them with its smooth part), and the 2-D lattice is zero in both;
    - JPEG's 8x8 blocks are offsets that vary from block to block, whose spectrum vanishes on
      the period-8 lattice (:func:`block_grid` measures the grid itself);
    - text, tables and other content of a longer period put a comb of peaks on an axis, and the
      axis background rises to the comb's other teeth.

    Content that really is periodic with period 2, 4 or 8 (halftones, pixel art on a grid,
    ordered dithering, chessboards) is flagged: it carries the very pattern the score measures.

    ``color="luma"`` scores RGB input on its BT.601 luma: the eye resolves fine luminance
    patterns far better than fine colour ones, and JPEG's chroma subsampling leaves a period-2
    colour pattern in every 4:2:0 photograph (and every PNG made from one) that luma does not
    see. ``color="mean"`` averages the power spectra of all channels (used for gradients).

    Invariance: ``a * x + b`` scores as ``x`` for any scalar ``a != 0`` and any per-channel
    offset ``b``, in float32 too, at any scale: each image is brought to ``max |x|`` in
    [0.5, 1) by a power of two (:func:`~checkerscope.analysis.welch.unit_scale`) before any
    power is taken. Different gains per channel change the luma (or the channel average) and
    with it the score.

    Non-finite input: an image holding a NaN or infinite value scores NaN, which compares
    False with any threshold, so callers must test for it (``checkerscope scan`` lists such a
    file as an error); the other images of the batch are unaffected. ``impl``: see
    :data:`~checkerscope.analysis.welch.IMPLS`; the torch path is differentiable (away from
    ties between medians).

    Example:
        >>> x = torch.rand(1, 3, 64, 64)
        >>> x[..., ::2, ::2] += 0.5  # a strong period-2 pattern
        >>> bool(checkerboard_score(x, period=2) > 20)
        True
    """
    periods = None if period is None else (v.positive_int("period", period),)
    return period_scores(x, periods, tile, color, impl).amax(dim=1)


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
