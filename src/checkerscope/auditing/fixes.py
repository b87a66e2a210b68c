"""The article's fixes, as the audit applies them: :func:`checkerscope.convert` for a model's
upsampling (Odena et al. 2016), anti-aliased downsampling (Zhang 2019) for the strided
convolutions that put a checkerboard into the gradients it sends back."""

from __future__ import annotations

import copy
import warnings

from torch import nn

from checkerscope.auditing.layers import find_layers, layer_kind
from checkerscope.conversion import convert
from checkerscope.nn import AntiAliasedConv1d, AntiAliasedConv2d
from checkerscope.surgery import replace_modules

_ANTIALIASED_OF_DIMS = {1: AntiAliasedConv1d, 2: AntiAliasedConv2d}


def antialias(model: nn.Module) -> tuple[nn.Module, tuple[str, ...], list[str]]:
    """Swap every strided Conv1d/Conv2d of ``model`` for an AntiAliasedConv1d/2d with the same
    channels, kernel, padding, dilation, groups, bias and padding mode (and weights), which
    gives the same output size for every input size; a convolution shared by several parents
    is replaced everywhere by one shared replacement. ``model`` is changed in place.

    Returns the new root (``model``, or its replacement when ``model`` is itself a strided
    convolution), the names swapped (a shared layer under its first name), and a description
    of each strided layer left as it is (3-D, or with unequal strides per axis).

    Example:
        >>> net = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2), nn.ReLU())
        >>> fixed, swapped, skipped = antialias(net)
        >>> type(fixed[0]).__name__, swapped, skipped
        ('AntiAliasedConv2d', ('0',), [])
    """
    replacements: dict[int, nn.Module] = {}
    swapped, skipped = [], []
    for name, m in find_layers(model):
        if layer_kind(m) != "strided_conv":
            continue
        dims = len(m.kernel_size)
        if dims not in _ANTIALIASED_OF_DIMS or len(set(m.stride)) != 1:
            skipped.append(f"{name} ({type(m).__name__}, stride {m.stride})")
            continue
        new = _ANTIALIASED_OF_DIMS[dims](
            m.in_channels,
            m.out_channels,
            m.kernel_size,
            stride=m.stride[0],
            padding=m.padding,
            dilation=m.dilation,
            groups=m.groups,
            bias=m.bias is not None,
            padding_mode=m.padding_mode,
            device=m.weight.device,
            dtype=m.weight.dtype,
        )
        new.conv.load_state_dict(m.state_dict())
        new.train(m.training)
        replacements[id(m)] = new
        swapped.append(name)
    return replace_modules(model, replacements), tuple(swapped), skipped


def fixed_model(
    model: nn.Module, mode: str, trained: bool
) -> tuple[nn.Module | None, str, tuple[str, ...], list[str]]:
    """The fix the audit measures for ``model``: ``(fixed copy or None, description, replaced
    names, notes)``. For ``mode="outputs"``, ``convert(model)`` (``init="project"`` when
    ``trained``, so the trained weights carry over, else ``"fresh"``); for
    ``mode="gradients"``, :func:`antialias` of a copy. ``model`` is never changed; where
    there is nothing to fix, the copy is None and the notes say why.

    Example:
        >>> g = nn.Sequential(nn.ConvTranspose2d(4, 4, 4, 2, 1))
        >>> fixed, what, replaced, notes = fixed_model(g, "outputs", trained=False)
        >>> what, replaced, notes
        ("convert(model, init='fresh'): 1 ConvTranspose -> ResizeConv (nearest)", ('0',), [])
    """
    if mode == "gradients":
        fixed, swapped, skipped = antialias(copy.deepcopy(model))
        notes = [
            f"left strided layer {s} as it is: no anti-aliased 1-D/2-D equivalent" for s in skipped
        ]
        if not swapped:
            return (
                None,
                "",
                (),
                [*notes, "no strided Conv1d/Conv2d to swap for anti-aliased downsampling"],
            )
        what = f"{len(swapped)} strided convolution(s) -> AntiAliasedConv (blur-pool, Zhang 2019)"
        return fixed, what, swapped, notes
    init = "project" if trained else "fresh"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            fixed, report = convert(model, init=init, return_report=True)
    except ValueError as err:
        return None, "", (), [f"convert() cannot fix this model: {err}"]
    if not report.converted:
        return None, "", (), ["convert() found no strided ConvTranspose layer to replace"]
    names = tuple(c.name for c in report.converted)
    what = f"convert(model, init={init!r}): {len(names)} ConvTranspose -> ResizeConv (nearest)"
    return fixed, what, names, []
