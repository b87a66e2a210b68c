"""Finding sub-pixel upsamplers in a model: a convolution whose output goes straight into a
pixel shuffle (Shi et al. 2016; ESPCN, SRGAN, EDSR and most super-resolution models).

What is detected (:func:`find_subpixel_pairs`):

* in a ``Sequential``, a stride-1 ``Conv1d/2d/3d`` child directly followed by a shuffle child;
* where the model calls them in order: the model is traced with ``torch.fx`` (torch layers,
  checkerscope's layers (:data:`LAYER_PACKAGES`; the models of ``checkerscope.zoo`` and
  ``checkerscope.models`` are traced into) and modules without parameters or buffers kept
  whole), and a convolution
  call whose only use is as the sole argument of a shuffle call is a pair. A model that cannot
  be traced (control flow on tensor values or shapes, for one) is searched module by module:
  its children are traced instead, down to the ``Sequential`` rule above, and a note says so.

A shuffle is ``nn.PixelShuffle`` or any module without parameters or buffers that rearranges
its input as the pixel shuffle does, in as many dimensions as the convolution has (channel
``c s^d + phase`` to output channel c; :func:`pixel_shuffle_reference`): a hand-written 1-D or
3-D pixel shuffle qualifies. It is told by probing it once with a numbered tensor of the
convolution's output shape (:func:`shuffle_scale`).

Not detected: shuffles written inline in ``forward`` (``F.pixel_shuffle``, ``view``/``permute``
code), anything between the convolution and the shuffle (an activation, a normalization),
shuffles in another channel order, strided convolutions, and a convolution or shuffle that the
traced model also uses elsewhere (replacing it would change that other use).
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass

import torch
import torch.fx
from torch import nn

from checkerscope.analysis import layers as L

_PROBE_SIZE = 3  # odd and small: every phase and position of the probe is a different number

LAYER_PACKAGES = ("checkerscope.nn.", "checkerscope.conversion.", "checkerscope.auditing.")
"""Where checkerscope's layers live (resize-convolutions, adapters, joined pairs): traced as
leaves, unlike its architectures (``checkerscope.zoo``, ``checkerscope.models``), whose
sub-pixel pairs must be found."""


@dataclass(frozen=True)
class SubPixelPair:
    """A convolution and the shuffle it feeds: names as in ``named_modules()``, the modules, the
    upsampling factor and the number of spatial axes."""

    conv_name: str
    conv: nn.Module
    shuffle_name: str
    shuffle: nn.Module
    scale_factor: int
    dims: int


def pixel_shuffle_reference(x: torch.Tensor, s: int) -> torch.Tensor:
    """The pixel shuffle in any number of spatial axes: (N, C s^d, *S) -> (N, C, *(s S)), input
    channel ``c s^d + phase`` (phase in row-major order over the axes) to output channel c at
    offset phase within each block. Equals ``F.pixel_shuffle`` in 2-D.

    Example:
        >>> pixel_shuffle_reference(torch.arange(6.0).view(1, 2, 3), 2)
        tensor([[[0., 3., 1., 4., 2., 5.]]])
    """
    n, c, *sizes = x.shape
    d = len(sizes)
    y = x.reshape(n, c // s**d, *(s,) * d, *sizes)
    order = [0, 1, *(axis for a in range(d) for axis in (2 + d + a, 2 + a))]
    return y.permute(order).reshape(n, c // s**d, *(s * length for length in sizes))


def _stateless(m: nn.Module) -> bool:
    return next(m.parameters(), None) is None and next(m.buffers(), None) is None


def shuffle_scale(m: nn.Module, channels: int, dims: int) -> int | None:
    """The upsampling factor s if ``m`` is a pixel shuffle in ``dims`` axes for inputs with
    ``channels`` channels (checked by running it once on a numbered probe), else None.

    Example:
        >>> shuffle_scale(nn.PixelShuffle(2), 12, 2), shuffle_scale(nn.ReLU(), 12, 2)
        (2, None)
    """
    if not _stateless(m):
        return None
    probe = torch.arange(channels * _PROBE_SIZE**dims, dtype=torch.float64)
    probe = probe.reshape(1, channels, *(_PROBE_SIZE,) * dims)
    try:
        with torch.no_grad():
            y = m(probe)
    except Exception:  # a module that cannot take the probe is no shuffle
        return None
    if not isinstance(y, torch.Tensor) or y.dim() != probe.dim():
        return None
    s = y.shape[-1] // _PROBE_SIZE
    if s < 2 or tuple(y.shape) != (1, channels // s**dims, *(s * _PROBE_SIZE,) * dims):
        return None
    if channels % s**dims or not torch.equal(y, pixel_shuffle_reference(probe, s)):
        return None
    return s


def _pair(
    conv_name: str, conv: nn.Module, shuffle_name: str, shuffle: nn.Module
) -> SubPixelPair | None:
    if not L.is_conv(conv) or any(s != 1 for s in conv.stride):
        return None
    dims = len(conv.kernel_size)
    s = shuffle_scale(shuffle, conv.out_channels, dims)
    return None if s is None else SubPixelPair(conv_name, conv, shuffle_name, shuffle, s, dims)


class _Tracer(torch.fx.Tracer):
    """Keeps torch layers, checkerscope's layers and stateless modules whole."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        ours = type(m).__module__.startswith(LAYER_PACKAGES)
        return super().is_leaf_module(m, module_qualified_name) or ours or _stateless(m)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix and name else prefix or name


def _traced_pairs(module: nn.Module, graph: torch.fx.Graph, prefix: str) -> list[SubPixelPair]:
    calls: Counter[str] = Counter()
    found: list[tuple[SubPixelPair, str, str]] = []
    for node in graph.nodes:
        if node.op != "call_module":
            continue
        calls[node.target] += 1
        users = list(node.users)
        if len(users) != 1 or users[0].op != "call_module":
            continue
        user = users[0]
        if user.args != (node,) or user.kwargs:
            continue
        conv, shuffle = module.get_submodule(node.target), module.get_submodule(user.target)
        pair = _pair(_join(prefix, node.target), conv, _join(prefix, user.target), shuffle)
        if pair is not None:
            found.append((pair, node.target, user.target))
    # A convolution or shuffle also called outside a pair is left alone: replacing it there
    # would change that other call.
    paired = Counter(target for _, a, b in found for target in (a, b))
    return [p for p, a, b in found if calls[a] == paired[a] and calls[b] == paired[b]]


def _sequential_pairs(seq: nn.Sequential, prefix: str) -> list[SubPixelPair]:
    children = list(seq.named_children())
    pairs = []
    for (a, conv), (b, shuffle) in itertools.pairwise(children):
        pair = _pair(_join(prefix, a), conv, _join(prefix, b), shuffle)
        if pair is not None:
            pairs.append(pair)
    return pairs


def _search(module: nn.Module, prefix: str, pairs: list[SubPixelPair], notes: list[str]) -> None:
    if _Tracer().is_leaf_module(module, prefix):
        return
    if type(module).forward is not nn.Module.forward:  # containers without forward: look inside
        try:
            graph = _Tracer().trace(module)
        except Exception as err:  # fx raises many kinds: the reason goes into the note
            reason = str(err).strip().splitlines()[0] if str(err).strip() else ""
            notes.append(
                f"{prefix or '<root>'} ({type(module).__name__}) cannot be traced by torch.fx "
                f"({type(err).__name__}: {reason}); its sub-pixel pairs are looked for "
                f"module by module"
            )
        else:
            pairs.extend(_traced_pairs(module, graph, prefix))
            return
    if isinstance(module, nn.Sequential):
        pairs.extend(_sequential_pairs(module, prefix))
    for name, child in module.named_children():
        _search(child, _join(prefix, name), pairs, notes)


def find_subpixel_pairs(model: nn.Module) -> tuple[list[SubPixelPair], list[str]]:
    """Every convolution -> pixel shuffle pair of ``model`` that the module docstring's rules
    find, each once, and notes on the parts of the model that could not be traced.

    Example:
        >>> up = nn.Sequential(nn.Conv2d(8, 4 * 4, 3, padding=1), nn.PixelShuffle(2), nn.ReLU())
        >>> pairs, notes = find_subpixel_pairs(up)
        >>> [(p.conv_name, p.shuffle_name, p.scale_factor) for p in pairs], notes
        ([('0', '1', 2)], [])
    """
    pairs: list[SubPixelPair] = []
    notes: list[str] = []
    _search(model, "", pairs, notes)
    unique: dict[tuple[int, int], SubPixelPair] = {}
    for p in pairs:
        unique.setdefault((id(p.conv), id(p.shuffle)), p)
    return list(unique.values()), notes
