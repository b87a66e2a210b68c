"""Re-initializing a model for each seed of an audit, parametrized layers included.

An untrained audit draws the model afresh for every seed by calling every module's
``reset_parameters()``. A tensor under a torch parametrization
(``torch.nn.utils.parametrize``: ``parametrizations.weight_norm``, ``spectral_norm``,
``orthogonal``, ...) is computed from the parametrization's original tensors, so a layer's own
``reset_parameters()`` writes into a temporary and leaves the originals, and so the weights, as
they were: every seed would audit the same weights. :func:`reset_parametrized` lets the layer
draw its tensors (caught with ``parametrize.cached()``, under which the temporary is the one
tensor every access returns) and derives the originals from them as registering the first
parametrization on a new layer does (its ``right_inverse``, or the tensor itself):
``weight_norm`` gets ``v`` = the new weight and ``g`` = its norm. A spectral norm is built
again on the new weight, drawing new power-iteration vectors and running its 15 iterations, as
``torch.nn.utils.parametrizations.spectral_norm`` does on a new layer; other parametrizations
keep whatever state they hold. Parametrizations are never removed: a deep copy of a
parametrized module shares its class with the original, and removing them from one would remove
them from both.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize

SPECTRAL_NORM = "torch.nn.utils.parametrizations._SpectralNorm"
"""The qualified name of the parametrization that ``spectral_norm`` registers: it holds power
iteration vectors drawn for the weight it was built on, so it is built again for a new weight."""


def _qualified_name(m: nn.Module) -> str:
    return f"{type(m).__module__}.{type(m).__qualname__}"


def _originals(chain: nn.Module) -> list[torch.Tensor]:
    if chain.is_tensor:
        return [chain.original]
    return [getattr(chain, f"original{i}") for i in range(chain.ntensors)]


@torch.no_grad()
def _set_originals(chain: nn.Module, fresh: torch.Tensor) -> None:
    """Set the originals of ``chain`` from the new value ``fresh`` of its tensor, as
    registering its first parametrization on that value does."""
    first = chain[0]
    new: torch.Tensor | tuple[torch.Tensor, ...] = fresh
    if hasattr(first, "right_inverse"):
        try:
            new = first.right_inverse(fresh)
        except NotImplementedError:  # torch's rule: right_inverse is then the identity
            new = fresh
    values = [new] if isinstance(new, torch.Tensor) else list(new)
    for original, value in zip(_originals(chain), values, strict=True):
        original.copy_(value)


def _input_of(chain: nn.Module, i: int) -> torch.Tensor:
    """What the ``i``-th parametrization of ``chain`` (i > 0) receives: the earlier ones' output."""
    x = chain[0](*_originals(chain))
    for p in list(chain)[1:i]:
        x = p(x)
    return x


@torch.no_grad()
def _rebuild_spectral_norms(chain: nn.Module) -> None:
    """Build every spectral norm of ``chain`` again for its new input, as a new layer gets it:
    constructed in training mode (new vectors, 15 power iterations), then the whole chain run
    once (one more iteration) as registering it checks, then put in the mode of the old one."""
    for i, p in enumerate(list(chain)):
        if _qualified_name(p) != SPECTRAL_NORM:
            continue
        new = type(p)(
            chain.original if i == 0 else _input_of(chain, i),
            n_power_iterations=getattr(p, "n_power_iterations", 1),  # absent for 1-D
            dim=p.dim,
            eps=p.eps,
        )
        chain[i] = new
        if not chain.unsafe:
            chain()
        new.train(p.training)


def reset_parametrized(module: nn.Module) -> None:
    """``module.reset_parameters()`` for a module whose tensors are parametrized: the module
    draws its tensors, and each parametrized one becomes what its parametrizations make of
    the new draw on a newly built layer (see the module's docstring).

    Example:
        >>> from torch.nn.utils.parametrizations import weight_norm
        >>> conv = weight_norm(nn.ConvTranspose1d(2, 2, 4, stride=2))
        >>> before = conv.parametrizations.weight.original1.detach().clone()
        >>> reset_parametrized(conv)
        >>> v, g = conv.parametrizations.weight.original1, conv.parametrizations.weight.original0
        >>> bool((v != before).any()), torch.allclose(conv.weight, v)  # g = ||v||, w = v
        (True, True)
    """
    with parametrize.cached():  # the layer's in-place draws land in the cached tensors
        module.reset_parameters()
        fresh = {name: getattr(module, name).detach().clone() for name in module.parametrizations}
    for name, value in fresh.items():
        chain = module.parametrizations[name]
        _set_originals(chain, value)
        _rebuild_spectral_norms(chain)


def reinitialize(model: nn.Module) -> None:
    """Call every module's ``reset_parameters()``, children before parents (a parent such as
    ``SubPixelConv2d`` re-draws its child's weights its own way, so it must go last); a module
    with parametrized tensors is reset by :func:`reset_parametrized`, so its weights are drawn
    afresh too.

    Example:
        >>> from torch.nn.utils.parametrizations import weight_norm
        >>> net = nn.Sequential(weight_norm(nn.Conv1d(2, 2, 3)), nn.Linear(2, 2))
        >>> before = net[0].weight.detach().clone()
        >>> reinitialize(net)
        >>> bool((net[0].weight != before).any())
        True
    """
    for m in reversed(list(model.modules())):
        reset = getattr(m, "reset_parameters", None)
        if not callable(reset):
            continue
        if parametrize.is_parametrized(m):
            reset_parametrized(m)
        else:
            reset()


def kept_parameters(model: nn.Module) -> list[str]:
    """Names of the parameters that :func:`reinitialize` leaves as they are: those of modules
    without ``reset_parameters()``, except the original tensors of a parametrization on a
    module that has one (they are derived afresh).

    Example:
        >>> from torch.nn.utils.parametrizations import weight_norm
        >>> block = nn.Sequential(weight_norm(nn.Conv2d(1, 1, 3)), nn.Module())
        >>> block[1].gain = nn.Parameter(torch.ones(()))
        >>> kept_parameters(block)
        ['1.gain']
    """
    derived: set[int] = set()
    for m in model.modules():
        if callable(getattr(m, "reset_parameters", None)) and parametrize.is_parametrized(m):
            for chain in m.parametrizations.values():
                derived.update(id(p) for p in chain.parameters(recurse=False))
    return [
        f"{name}.{p}" if name else p
        for name, m in model.named_modules()
        if not callable(getattr(m, "reset_parameters", None))
        for p, tensor in m.named_parameters(recurse=False)
        if id(tensor) not in derived
    ]
