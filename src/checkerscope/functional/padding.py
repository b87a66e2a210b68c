"""Padding built from slices, flips and concatenation, so that its gradient is deterministic.

torch's reflection padding has no deterministic CUDA backward: under
``torch.use_deterministic_algorithms(True)`` its backward raises. The same padding as
slices of the input (reflect: flipped, replicate: the edge sample expanded, circular: the
other end) joined by ``torch.cat`` has a backward of slices, flips and sums, which are
deterministic everywhere; it exports and traces with symbolic sizes, as nothing here reads a
size into Python.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _repeat(edge: torch.Tensor, dim: int, times: int) -> torch.Tensor:
    return edge.expand(*(times if d == dim else -1 for d in range(edge.dim())))


def _edges(x: torch.Tensor, dim: int, before: int, after: int, mode: str) -> list[torch.Tensor]:
    n = x.shape[dim]
    parts = []
    if before:
        if mode == "reflect":
            parts.append(x.narrow(dim, 1, before).flip(dim))
        elif mode == "replicate":
            parts.append(_repeat(x.narrow(dim, 0, 1), dim, before))
        else:
            parts.append(x.narrow(dim, n - before, before))
    parts.append(x)
    if after:
        if mode == "reflect":
            parts.append(x.narrow(dim, n - 1 - after, after).flip(dim))
        elif mode == "replicate":
            parts.append(_repeat(x.narrow(dim, n - 1, 1), dim, after))
        else:
            parts.append(x.narrow(dim, 0, after))
    return parts


def pad(x: torch.Tensor, pads: Sequence[tuple[int, int]], mode: str) -> torch.Tensor:
    """Pad spatial axis ``a`` of (N, C, *S) ``x`` by ``pads[a] = (before, after)`` samples.

    ``mode`` is "zeros", "reflect" (the edge sample not repeated), "replicate" or "circular",
    as in ``F.pad``, which it equals; a reflect or circular pad must be smaller than the axis.

    Example:
        >>> pad(torch.arange(4.0).view(1, 1, 4), [(2, 1)], "reflect")
        tensor([[[2., 1., 0., 1., 2., 3., 2.]]])
    """
    if mode == "zeros":
        flat = [p for before_after in reversed(pads) for p in before_after]
        return F.pad(x, flat) if any(flat) else x
    for axis, (before, after) in enumerate(pads):
        if before or after:
            x = torch.cat(_edges(x, 2 + axis, before, after, mode), 2 + axis)
    return x
