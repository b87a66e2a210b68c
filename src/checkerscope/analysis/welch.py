"""From images to lattice energies: normalise, cut into windows, pick an implementation, sum.

Welch's method: the spectra of the ``tile`` x ``tile`` windows that cover an image are summed,
so the score of a large image measures the same thing as that of one window. Each image is first
brought to unit scale by a power of two (exact, and harmless to ratios of powers), so that
float32 powers neither overflow nor vanish; images with a non-finite value give NaN. The energies
of each window come from :mod:`checkerscope.analysis.lattice`, through torch or NumPy.
Arguments are checked by the entry points in :mod:`checkerscope.analysis.score`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from checkerscope import checks as v
from checkerscope.analysis.lattice import CLASSES, lattice_energy, lattice_energy_numpy

IMPLS = ("auto", "torch", "numpy")
"""Implementations of the lattice energies: ``"torch"`` (:func:`lattice_energy`, the definition:
batches, any device, gradients), ``"numpy"`` (:func:`lattice_energy_numpy`, the fast path for a
few CPU images without gradients) and ``"auto"`` (NumPy where it applies: :func:`resolve_impl`)."""

TILE_BATCH = 64
"""Windows transformed at once by the torch path."""

EXPONENT = 120
"""The unit scale is a power of two ``2**-e`` with ``|e| <= EXPONENT`` (float32's range)."""


def tile_starts(n: int, tile: int) -> list[int]:
    """Start offsets of the fewest ``tile``-long windows, evenly spread, that cover ``0..n``."""
    if n <= tile:
        return [0]
    k = -(-n // tile)
    return [round(i * (n - tile) / (k - 1)) for i in range(k)]


def resolve_impl(x: torch.Tensor, impl: str = "auto") -> str:
    """The implementation that scores ``x``: ``"numpy"`` or ``"torch"``.

    ``"auto"`` takes NumPy for CPU tensors that need no gradient (a scan's images, an audit's
    samples: one thread, window by window, it is faster than torch's batched transforms for
    all but batches of many small images), torch otherwise. ``"numpy"`` refuses tensors that
    need a gradient or live on another device.

    Example:
        >>> resolve_impl(torch.rand(1, 1, 64, 64)), resolve_impl(torch.rand(1, 1, 64, 64), "torch")
        ('numpy', 'torch')
    """
    v.one_of("impl", impl, IMPLS)
    cpu = x.device.type == "cpu"
    grad = x.requires_grad and torch.is_grad_enabled()
    if impl == "numpy" and not cpu:
        raise ValueError(f"impl='numpy' needs a CPU tensor, got x on {x.device}; use impl='torch'")
    if impl == "numpy" and grad:
        raise ValueError("impl='numpy' computes no gradient, but x requires grad; use impl='torch'")
    if impl == "auto":
        return "numpy" if cpu and not grad else "torch"
    return impl


def unit_scale(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For each item of ``x`` (B, ...): a power of two that brings ``max |x|`` into [0.5, 1),
    and whether every value is finite. Both (B,), the scale in float64, without gradient.

    Ratios of powers ignore the scale, and multiplying by a power of two is exact, so the score
    of ``x * 1e20`` in float32 is that of ``x`` (the power would otherwise overflow), and of
    ``x * 1e-20`` too (instead of vanishing under the floor).

    Example:
        >>> scale, finite = unit_scale(torch.tensor([[3.0], [float("nan")]]))
        >>> scale.tolist(), finite.tolist()
        ([0.25, 1.0], [True, False])
    """
    dims = tuple(range(1, x.dim()))
    low, high = (t.double().abs() for t in (x.detach().amin(dim=dims), x.detach().amax(dim=dims)))
    peak = torch.maximum(low, high)
    finite = torch.isfinite(peak)
    exponent = torch.frexp(torch.where(finite, peak, 0.0)).exponent.clamp(-EXPONENT, EXPONENT)
    return torch.ldexp(torch.ones_like(peak), -exponent), finite


def welch_energy(
    x: torch.Tensor,
    periods: tuple[int, ...],
    sides: tuple[int, int],
    impl: str,
    to_gray: Callable[[torch.Tensor], torch.Tensor],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Lattice energies (B, P, 3) of images (B, C, H, W), summed over the windows of ``sides``.

    Windows are cropped to a multiple of ``lcm(periods)``, converted to float a chunk at a time
    (so a uint8 image is never copied whole), scaled by :func:`unit_scale` and reduced by
    ``to_gray`` (luma, or nothing). Arguments must be checked (see
    :func:`checkerscope.analysis.score.artifact_energy`); ``impl`` is one of :data:`IMPLS`.

    Example:
        >>> x = torch.rand(1, 1, 300, 70)
        >>> art, bg = welch_energy(x, (2, 4), (256, 70), "auto", lambda t: t)
        >>> art.shape
        torch.Size([1, 2, 3])
    """
    b, h, w = x.shape[0], *x.shape[-2:]
    th, tw = sides
    m = math.lcm(*periods)
    crop = (th // m * m, tw // m * m)
    windows = [
        (slice(i, i + crop[0]), slice(j, j + crop[1]))
        for i in tile_starts(h, th)
        for j in tile_starts(w, tw)
    ]
    if resolve_impl(x, impl) == "numpy":
        return _numpy_energy(x, periods, windows, to_gray)
    dtype = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32
    scale, finite = unit_scale(x)
    every = bool(finite.all())
    art = torch.zeros(b, len(periods), len(CLASSES), dtype=dtype, device=x.device)
    bg = torch.zeros_like(art)
    # Windows are converted to float a chunk at a time, so a uint8 image is never copied whole.
    chunk = max(1, TILE_BATCH // b)
    for k in range(0, len(windows), chunk):
        part = torch.cat([x[..., rows, cols] for rows, cols in windows[k : k + chunk]])
        repeats = part.shape[0] // b
        if not every:  # non-finite images are scored as zeros, then reported as NaN
            part = torch.where(finite.repeat(repeats)[:, None, None, None], part, 0)
        part = to_gray(part.to(dtype) * scale.repeat(repeats).to(dtype)[:, None, None, None])
        a, g = lattice_energy(part, periods)
        art = art + a.view(repeats, b, *art.shape[1:]).sum(dim=0)
        bg = bg + g.view(repeats, b, *bg.shape[1:]).sum(dim=0)
    if not every:
        nan = torch.tensor(math.nan, dtype=art.dtype, device=art.device)
        art = torch.where(finite.to(art.device)[:, None, None], art, nan)
        bg = torch.where(finite.to(bg.device)[:, None, None], bg, nan)
    return art, bg


def _numpy_energy(
    x: torch.Tensor,
    periods: tuple[int, ...],
    windows: list[tuple[slice, slice]],
    to_gray: Callable[[torch.Tensor], torch.Tensor],
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`welch_energy` through :func:`lattice_energy_numpy`, image by image and window by
    window, with :func:`unit_scale`'s scale and finiteness taken in NumPy (same rule)."""
    dtype = np.float64 if x.dtype == torch.float64 else np.float32
    images = x.detach().numpy()
    art = np.zeros((x.shape[0], len(periods), len(CLASSES)), dtype=dtype)
    bg = np.zeros_like(art)
    for k, image in enumerate(images):
        peak = max(abs(float(image.max())), abs(float(image.min())))
        if not math.isfinite(peak):
            art[k] = bg[k] = math.nan
            continue
        scale = math.ldexp(1.0, -min(max(math.frexp(peak)[1], -EXPONENT), EXPONENT))
        for rows, cols in windows:
            window = np.asarray(image[:, rows, cols], dtype=dtype)
            if window.shape[0] > 1:
                window = to_gray(torch.from_numpy(window)[None])[0].numpy()
            a, g = lattice_energy_numpy(window, periods, scale)
            art[k] += a
            bg[k] += g
    return torch.from_numpy(art), torch.from_numpy(bg)
