"""Figures of a model audit: one function per figure, numbers in, matplotlib Figure out."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure


def tile_images(batch: torch.Tensor, columns: int) -> np.ndarray:
    """(N, C, H, W) as one (rows*(H+1)-1, columns*(W+1)-1[, 3]) array, each image stretched to
    [0, 1] over its own range (outputs and gradients come in any range); RGB stays RGB, any
    other channel count is averaged to gray. Tiles are parted by one white pixel.

    Example:
        >>> tile_images(torch.rand(3, 1, 4, 4), columns=2).shape
        (9, 9)
    """
    x = batch.detach().double().cpu()
    if x.shape[1] != 3:
        x = x.mean(dim=1, keepdim=True)
    lo = x.flatten(1).amin(dim=1).view(-1, 1, 1, 1)
    hi = x.flatten(1).amax(dim=1).view(-1, 1, 1, 1)
    x = ((x - lo) / (hi - lo).clamp(min=1e-12)).numpy()
    n, c, h, w = x.shape
    columns = min(columns, n)
    rows = -(-n // columns)
    grid = np.ones((rows * (h + 1) - 1, columns * (w + 1) - 1, c))
    for i in range(n):
        r, q = divmod(i, columns)
        grid[r * (h + 1) : r * (h + 1) + h, q * (w + 1) : q * (w + 1) + w] = x[i].transpose(1, 2, 0)
    return grid if c == 3 else grid[..., 0]


def samples_figure(samples: Mapping[str, torch.Tensor], columns: int = 4) -> Figure:
    """What the audited models produced, one panel per entry (e.g. original and fixed).

    Images (N, C, H, W) are tiled, each stretched to its own range; volumes (N, C, D, H, W)
    show their middle slice; signals (N, C, L) show their power spectrum (channels and
    samples averaged, in dB), all entries on one axis, where a checkerboard is a tone at
    multiples of fs/2, fs/4, fs/8.

    Example:
        >>> fig = samples_figure({"original": torch.randn(4, 3, 16, 16)})
    """
    if not samples:
        raise ValueError("samples must hold at least one entry, got none")
    dims = {x.dim() for x in samples.values()}
    if len(dims) != 1 or not dims <= {3, 4, 5}:
        shapes = {k: tuple(x.shape) for k, x in samples.items()}
        raise ValueError(
            f"samples must all be (N, C, L), (N, C, H, W) or (N, C, D, H, W), got {shapes}"
        )
    if dims == {3}:
        fig = Figure(figsize=(8, 3.6), layout="constrained")
        ax = fig.subplots()
        for title, x in samples.items():
            power = torch.fft.rfft(x.detach().double().cpu(), dim=-1).abs().square()
            db = 10 * torch.log10(power.mean(dim=(0, 1)).clamp(min=1e-30))
            ax.plot(np.linspace(0, 0.5, db.numel()), db.numpy(), label=title, linewidth=1)
        for f in (1 / 8, 1 / 4, 3 / 8, 1 / 2):
            ax.axvline(f, color="0.6", linestyle=":", linewidth=1)
        ax.set_xlabel("frequency (cycles per sample; dotted: multiples of fs/8)")
        ax.set_ylabel("power (dB)")
        ax.legend()
        return fig
    fig = Figure(figsize=(4 * len(samples), 4.3), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(samples)))
    for ax, (title, x) in zip(axes, samples.items(), strict=True):
        if x.dim() == 5:
            x = x[:, :, x.shape[2] // 2]
        image = tile_images(x, columns)
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None, interpolation="nearest")
        ax.set_title(title)
        ax.axis("off")
    return fig


def layer_scores_figure(
    names: Sequence[str], before: Sequence[float], after: Sequence[float | None] | None = None
) -> Figure:
    """The checkerboard each layer adds (dB), before and, if given, after the fix.

    ``after[i]`` is None (or nan) where the fixed model has no such layer.

    Example:
        >>> fig = layer_scores_figure(["up.0", "up.1"], [12.0, 20.0], [1.0, 0.5])
    """
    if len(names) != len(before) or (after is not None and len(after) != len(names)):
        raise ValueError(
            f"names, before and after must have one entry per layer, got {len(names)}, "
            f"{len(before)} and {None if after is None else len(after)}"
        )
    fig = Figure(figsize=(8, 1.2 + 0.45 * max(1, len(names))), layout="constrained")
    ax = fig.subplots()
    y = np.arange(len(names))
    clean = [math.nan if b is None else b for b in before]
    height = 0.4 if after is not None else 0.7
    ax.barh(y - (height / 2 if after is not None else 0), clean, height, label="original")
    if after is not None:
        fixed = [math.nan if a is None else a for a in after]
        ax.barh(y + height / 2, fixed, height, label="fixed", color="tab:green")
        ax.legend()
    ax.axvline(0, color="k", linewidth=0.8)
    ax.set_yticks(y, [n or "<root>" for n in names])
    ax.invert_yaxis()
    ax.set_xlabel("checkerboard added by the layer (dB)")
    return fig
