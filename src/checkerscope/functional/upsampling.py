"""Upsampling by an integer factor, with a deterministic gradient.

Nearest is torch's ``F.interpolate`` (its backward is deterministic). Linear interpolation
(``mode="bilinear"``: linear, bilinear or trilinear by rank, ``align_corners=False``) is
written out instead: torch's linear upsampling has no deterministic CUDA backward. With an
integer factor s, output ``s*i + r`` sits ``d = (2r + 1 - s) / (2s)`` input samples from
input i, so each of the s phases is a two-tap blend of neighbours, with the edge sample
repeated where torch clamps; the phases are then interleaved.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _linear_axis(x: torch.Tensor, dim: int, s: int) -> torch.Tensor:
    n = x.shape[dim]
    ext = torch.cat([x.narrow(dim, 0, 1), x, x.narrow(dim, n - 1, 1)], dim)
    phases = []
    for r in range(s):
        d = (2 * r + 1 - s) / (2 * s)
        if d < 0:  # between input i - 1 and i
            phase = -d * ext.narrow(dim, 0, n) + (1 + d) * ext.narrow(dim, 1, n)
        elif d > 0:  # between input i and i + 1
            phase = (1 - d) * ext.narrow(dim, 1, n) + d * ext.narrow(dim, 2, n)
        else:
            phase = x
        phases.append(phase)
    return torch.stack(phases, dim + 1).flatten(dim, dim + 1)


def upsample(x: torch.Tensor, scale_factor: int, mode: str) -> torch.Tensor:
    """Upsample the spatial axes of (N, C, *S) ``x`` by the integer ``scale_factor``.

    Equal to ``F.interpolate(x, scale_factor=s, mode=...)`` with ``align_corners=False``
    (``mode="bilinear"`` means linear along every axis). Returns (N, C, *(s * S)).

    Example:
        >>> upsample(torch.tensor([[[0.0, 4.0]]]), 2, "bilinear")
        tensor([[[0., 1., 3., 4.]]])
    """
    if mode == "nearest":
        return F.interpolate(x, scale_factor=float(scale_factor), mode="nearest")
    for dim in range(2, x.dim()):
        x = _linear_axis(x, dim, scale_factor)
    return x
