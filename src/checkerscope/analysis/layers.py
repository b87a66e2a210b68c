"""What the analyses need to know about a user's layer: its spatial rank, its input channels,
and a float64 copy of its linear part (bias removed) to probe."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from checkerscope import checks as v
from checkerscope.nn import ResizeConv1d, ResizeConv2d, ResizeConv3d, SubPixelConv2d

RESIZE_CONVS = (ResizeConv1d, ResizeConv2d, ResizeConv3d)


TRANSPOSED_CONVS = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
POOLS = (
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.MaxPool3d,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AvgPool3d,
)


def is_transposed_conv(m: nn.Module) -> bool:
    """Whether ``m`` is a ``ConvTranspose1d/2d/3d`` (or a subclass)."""
    return isinstance(m, TRANSPOSED_CONVS)


def is_conv(m: nn.Module) -> bool:
    """Whether ``m`` is a ``Conv1d/2d/3d`` (or a subclass), not transposed."""
    return isinstance(m, CONVS)


def is_pool(m: nn.Module) -> bool:
    """Whether ``m`` is a max or average pooling layer of fixed kernel (1-D to 3-D)."""
    return isinstance(m, POOLS)


def layer_dims(m: nn.Module) -> int | None:
    """Spatial rank of a layer whose rank is fixed by its type, else None."""
    if isinstance(m, (*CONVS, *TRANSPOSED_CONVS)):
        return len(m.kernel_size)
    if isinstance(m, RESIZE_CONVS):
        return m.dims
    if isinstance(m, (SubPixelConv2d, nn.PixelShuffle)):
        return 2
    return None


def model_dims(model: nn.Module) -> int | None:
    """Spatial rank of the first layer in ``model`` that fixes one."""
    for m in model.modules():
        dims = layer_dims(m)
        if dims is not None:
            return dims
    return None


def input_channels(model: nn.Module, in_channels: int | None) -> int:
    """``in_channels`` if given, else that of the first layer in ``model`` that declares one."""
    if in_channels is not None:
        return v.positive_int("in_channels", in_channels)
    for m in model.modules():
        c = getattr(m, "in_channels", None)
        if isinstance(c, int) and not isinstance(c, bool):
            return c
    return 1


def spatial_size(name: str, size: Any, dims: int | None) -> tuple[int, ...]:
    """``size`` as a tuple of positive ints; an int means that size on each of ``dims`` axes."""
    if isinstance(size, Sequence) and not isinstance(size, str):
        if len(size) == 0:
            raise ValueError(f"{name} must be a positive int or a non-empty tuple, got {size!r}")
        return tuple(v.positive_int(name, s) for s in size)
    return (v.positive_int(name, size),) * (dims or 1)


def linear_copy(layer: nn.Module) -> nn.Module:
    """A float64, eval-mode deep copy of ``layer`` with every ``bias`` parameter set to zero."""
    if not isinstance(layer, nn.Module):
        raise ValueError(f"layer must be a torch.nn.Module, got {type(layer).__name__}")
    lin = copy.deepcopy(layer).to(torch.float64).eval()
    with torch.no_grad():
        for name, p in lin.named_parameters():
            if name == "bias" or name.endswith(".bias"):
                p.zero_()
    return lin


def run_linear(lin: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``lin(x) - lin(0)``: the linear part even where an affine shift is not named ``bias``."""
    with torch.no_grad():
        return lin(x) - lin(torch.zeros_like(x[:1]))


def check_forward(name: str, lin: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Run ``lin`` on ``x`` and turn torch's shape errors into a ValueError naming the input."""
    try:
        return run_linear(lin, x)
    except RuntimeError as err:
        raise ValueError(
            f"{name} {tuple(x.shape[2:])} does not run through the layer: {err}"
        ) from err
