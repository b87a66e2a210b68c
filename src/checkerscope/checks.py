"""Argument checks shared by every public constructor and function.

Each check raises a ``ValueError`` that names the argument, shows the value the caller
wrote and says what was expected, so that a mistake never surfaces as a stack trace from
deep inside torch.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import torch


def positive_int(name: str, value: Any) -> int:
    """Return ``value`` as an int, or raise if it is not an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def nonnegative_int(name: str, value: Any) -> int:
    """Return ``value`` as an int, or raise if it is not an integer >= 0."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return value


def positive_number(name: str, value: Any) -> float:
    """Return ``value`` as a float, or raise if it is not a finite real number > 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < math.inf:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def scale_factor(name: str, value: Any) -> int:
    """Accept an integer scale >= 1 (also a float with an integral value, e.g. ``2.0``)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return value


def ntuple(name: str, value: Any, n: int, check: Any = positive_int) -> tuple[int, ...]:
    """Expand an int to an ``n``-tuple, or check a sequence of length ``n``, element-wise."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != n:
            raise ValueError(f"{name} must be an int or a sequence of {n} ints, got {value!r}")
        return tuple(check(name, v) for v in value)
    return (check(name, value),) * n


def one_of(name: str, value: Any, allowed: Sequence[str]) -> str:
    """Return ``value`` if it is one of ``allowed``, or raise listing the choices."""
    if value not in allowed:
        choices = ", ".join(repr(a) for a in allowed)
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def check_input(name: str, x: Any, *, dims: int, channels: int | None) -> None:
    """Check that ``x`` is a tensor of shape (N, C, *spatial) with ``dims`` spatial axes.

    An unbatched (C, *spatial) tensor is not accepted: layers here follow ``nn.ConvNd`` in
    requiring the batch dimension, so that shapes are never guessed.
    """
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != dims + 2:
        axes = ", ".join("HW"[-dims:] if dims <= 2 else ["D", "H", "W"])
        raise ValueError(
            f"{name} must have shape (N, C, {axes}) with {dims + 2} dimensions, "
            f"got a tensor of shape {tuple(x.shape)}"
        )
    if channels is not None and x.shape[1] != channels:
        raise ValueError(
            f"{name} has {x.shape[1]} channels (shape {tuple(x.shape)}), but the layer "
            f"expects in_channels={channels}"
        )
