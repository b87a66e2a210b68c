"""A look at a model's layers: of one type, their neighbours in a Sequential, their geometry."""

from __future__ import annotations

from torch import nn


def of_type(model: nn.Module, cls: type | tuple[type, ...]) -> list[nn.Module]:
    """The modules of ``model`` that are instances of ``cls``, in registration order."""
    return [m for m in model.modules() if isinstance(m, cls)]


def neighbours(model: nn.Module, cls: type) -> list[tuple[nn.Module | None, nn.Module | None]]:
    """For every ``cls`` module held by a ``Sequential``, the modules just before and after it
    there (None at either end): what the data passes through around it."""
    found = []
    for seq in of_type(model, nn.Sequential):
        children = list(seq.children())
        for i, m in enumerate(children):
            if isinstance(m, cls):
                before = children[i - 1] if i > 0 else None
                after = children[i + 1] if i + 1 < len(children) else None
                found.append((before, after))
    return found


def geometry(m: nn.Module) -> tuple:
    """(kernel, stride, padding, output_padding) of a (transposed) convolution, as ints for 1-D."""
    squeeze = (lambda t: t[0]) if len(m.kernel_size) == 1 else (lambda t: t)
    out_pad = getattr(m, "output_padding", (0,) * len(m.kernel_size))
    return tuple(squeeze(tuple(t)) for t in (m.kernel_size, m.stride, m.padding, out_pad))
