"""Record the aten operators a computation dispatches, and torch's list of the ones without a
deterministic CUDA implementation.

Under ``torch.use_deterministic_algorithms(True)`` those operators raise on CUDA. No GPU is
needed to check a layer against them: a ``TorchDispatchMode`` sees every operator the layer
runs on CPU, forward and backward (the CPU and CUDA paths dispatch the same operators).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

# The operators behind the entries of the list "The following normally-nondeterministic
# operations will throw a RuntimeError when mode=True" in the docstring of
# torch.use_deterministic_algorithms (torch 2.13;
# https://pytorch.org/docs/stable/generated/torch.use_deterministic_algorithms.html).
# Entries that hold only for some arguments (EmbeddingBag with mode='max', put_ with
# accumulate, median with indices, cumsum of floats, scatter_reduce with 'prod') are
# listed whole: a layer here needs none of them.
THROWING_ON_CUDA: dict[str, tuple[str, ...]] = {
    "torch.nn.AvgPool3d": ("avg_pool3d_backward",),
    "torch.nn.AdaptiveAvgPool2d": ("_adaptive_avg_pool2d_backward",),
    "torch.nn.AdaptiveAvgPool3d": ("_adaptive_avg_pool3d_backward",),
    "torch.nn.AdaptiveMaxPool2d": ("adaptive_max_pool2d_backward",),
    "torch.nn.FractionalMaxPool2d": ("fractional_max_pool2d_backward",),
    "torch.nn.FractionalMaxPool3d": ("fractional_max_pool3d_backward",),
    "torch.nn.MaxUnpool1d": ("max_unpool2d",),  # 1-D runs as 2-D
    "torch.nn.MaxUnpool2d": ("max_unpool2d",),
    "torch.nn.MaxUnpool3d": ("max_unpool3d",),
    "torch.nn.functional.interpolate": (
        "upsample_linear1d_backward",
        "upsample_bilinear2d_backward",
        "upsample_bicubic2d_backward",
        "upsample_trilinear3d_backward",
        "_upsample_bilinear2d_aa_backward",
        "_upsample_bicubic2d_aa_backward",
    ),
    "torch.nn.ReflectionPad1d": ("reflection_pad1d_backward",),
    "torch.nn.ReflectionPad2d": ("reflection_pad2d_backward",),
    "torch.nn.ReflectionPad3d": ("reflection_pad3d_backward",),
    "torch.nn.NLLLoss": ("nll_loss_forward", "nll_loss2d_forward"),
    "torch.nn.CTCLoss": ("_ctc_loss_backward",),
    "torch.nn.EmbeddingBag": ("_embedding_bag_backward", "_embedding_bag_dense_backward"),
    "torch.Tensor.put_": ("put_", "put"),
    "torch.histc": ("histc",),
    "torch.bincount": ("bincount",),
    "torch.median": ("median",),
    "torch.nn.functional.grid_sample": ("grid_sampler_2d_backward", "grid_sampler_3d_backward"),
    "torch.cumsum": ("cumsum", "cumsum_"),
    "torch.Tensor.scatter_reduce": ("scatter_reduce", "scatter_reduce_"),
}
# Entries of that list that cannot concern these layers.
NOT_APPLICABLE = {"torch.Tensor.resize_": "only for quantized tensors"}

NONDETERMINISTIC_ON_CUDA = frozenset(op for ops in THROWING_ON_CUDA.values() for op in ops)


class DispatchLog(TorchDispatchMode):
    """The names (``aten.<name>``, overload dropped) of the operators run while active."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: set[str] = set()

    def __torch_dispatch__(
        self,
        func: Callable[..., Any],
        types: tuple[type, ...],
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        self.ops.add(func.overloadpacket.__name__)
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def deterministic_algorithms() -> Iterator[None]:
    """``torch.use_deterministic_algorithms(True)`` for the block, then as it was."""
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)


def forward_backward_ops(module: torch.nn.Module, x: torch.Tensor) -> set[str]:
    """The operators of one forward and backward pass of ``module`` on ``x``."""
    x = x.detach().requires_grad_()
    with DispatchLog() as log:
        y = module(x)
        y.backward(torch.ones_like(y))
    return log.ops
