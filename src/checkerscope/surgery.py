"""Model surgery: find modules in a model and put replacements in their place.

The one place that swaps layers inside a model, for :func:`checkerscope.convert` and for the
audit's fixes. A module reachable under several names (shared by several parents, or listed
twice) is replaced everywhere by one shared replacement, so weight sharing survives the swap.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from torch import nn


def find_modules(
    model: nn.Module, predicate: Callable[[nn.Module], bool]
) -> list[tuple[str, nn.Module]]:
    """Every ``(name, module)`` of ``model`` (itself included, as ``""``) that ``predicate``
    accepts, in ``named_modules`` order; a shared module once, under its first name.

    Example:
        >>> g = nn.Sequential(nn.ConvTranspose2d(4, 4, 4, 2, 1), nn.ReLU())
        >>> [name for name, _ in find_modules(g, lambda m: isinstance(m, nn.ReLU))]
        ['1']
    """
    return [(name, m) for name, m in model.named_modules() if predicate(m)]


def replace_modules(model: nn.Module, replacements: Mapping[int, nn.Module]) -> nn.Module:
    """Put ``replacements[id(m)]`` in the place of every module ``m`` of ``model`` whose id it
    holds, under every name ``m`` is reachable by; return the new root (``model`` itself, or
    the replacement of ``model`` when the root is replaced). ``model`` is changed in place.

    Example:
        >>> g = nn.Sequential(nn.ReLU(), nn.Tanh())
        >>> new = replace_modules(g, {id(g[0]): nn.Sigmoid()})
        >>> type(new[0]).__name__, new is g
        ('Sigmoid', True)
    """
    if id(model) in replacements:
        return replacements[id(model)]
    # Every (parent, attribute) pair that holds a module to replace, found before any swap;
    # remove_duplicate=False names a module at every place, twice in one parent included.
    places = []
    for name, child in model.named_modules(remove_duplicate=False):
        if name and id(child) in replacements:
            parent_name, _, child_name = name.rpartition(".")
            places.append((model.get_submodule(parent_name), child_name, replacements[id(child)]))
    for parent, child_name, new in places:
        setattr(parent, child_name, new)
    return model
