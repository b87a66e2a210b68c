"""Replace every transposed convolution in a model by a resize-convolution of the same shape.

Odena, Dumoulin & Olah (2016), "Deconvolution and Checkerboard Artifacts": swapping the
deconvolutions of a generator for nearest-neighbour resize followed by a convolution removes
its checkerboard artifacts. :func:`convert` makes that swap on an existing model, keeping
every output shape (:mod:`~checkerscope.conversion.adapter`); ``init="project"`` also carries
trained weights over by least squares (:mod:`~checkerscope.conversion.projection`).
"""

from __future__ import annotations

import copy
import warnings

import torch
from torch import nn

from checkerscope import checks as v
from checkerscope.analysis.layers import is_transposed_conv
from checkerscope.conversion.adapter import (
    ResizeConvAdapter,
    matching_window,
    resize_conv_and_window,
)
from checkerscope.conversion.projection import project_weights, projection_residual
from checkerscope.conversion.report import ConversionReport, ConvertedLayer
from checkerscope.functional import resize_conv as R
from checkerscope.nn.resize_conv import ResizeConv1d, ResizeConv2d, ResizeConv3d
from checkerscope.surgery import find_modules, replace_modules

INITS = ("fresh", "project")
"""What ``convert(init=...)`` accepts: a fresh initialization, or the least-squares projection."""

_RESIZE_CONV = {1: ResizeConv1d, 2: ResizeConv2d, 3: ResizeConv3d}


def _check_convertible(name: str, m: nn.Module) -> None:
    where = f"layer {name or '<root>'!r} ({type(m).__name__})"
    if m.groups != 1:
        raise ValueError(
            f"cannot convert {where}: groups={m.groups}; ResizeConv supports groups=1 only"
        )
    if m.padding_mode != "zeros":
        raise ValueError(
            f"cannot convert {where}: padding_mode={m.padding_mode!r}; a ConvTranspose is "
            f"only defined with padding_mode='zeros'"
        )
    if len(set(m.stride)) != 1:
        raise ValueError(
            f"cannot convert {where}: stride={m.stride}; ResizeConv upsamples every axis by the "
            f"same integer, so the stride must be equal on all axes"
        )
    if isinstance(m.weight, nn.parameter.UninitializedParameter):
        raise ValueError(
            f"cannot convert {where}: its parameters are uninitialized (a lazy module); "
            f"run one forward pass before converting"
        )


def _replacement(
    deconv: nn.Module,
    mode: str,
    kernel_size: int | tuple[int, ...] | None,
    padding_mode: str,
    name: str,
) -> nn.Module:
    dims, s = len(deconv.kernel_size), deconv.stride[0]
    k_new = tuple(deconv.kernel_size) if kernel_size is None else kernel_size
    try:
        k_new = v.ntuple("kernel_size", k_new, dims)
    except ValueError as err:
        raise ValueError(f"cannot convert layer {name or '<root>'!r}: {err}") from None
    resize = _RESIZE_CONV[dims](
        deconv.in_channels,
        deconv.out_channels,
        kernel_size=k_new,
        scale_factor=s,
        mode=mode,
        padding_mode=padding_mode,
        bias=deconv.bias is not None,
        device=deconv.weight.device,
        dtype=deconv.weight.dtype,
    )
    offset, extra = matching_window(deconv, k_new)
    if not any(extra) and not any(offset):
        return resize
    return ResizeConvAdapter(resize, offset, extra)


def convert(
    model: nn.Module,
    mode: str = "nearest",
    init: str = "fresh",
    inplace: bool = False,
    *,
    kernel_size: int | tuple[int, ...] | None = 3,
    padding_mode: str = "reflect",
    include_stride1: bool = False,
    return_report: bool = False,
) -> nn.Module | tuple[nn.Module, ConversionReport]:
    """Replace every ``ConvTranspose1d/2d/3d`` of ``model`` by a resize-convolution.

    Each replacement has the same in/out channels, bias presence, dtype and device, upsamples
    by the layer's stride, and gives the same output shape as the layer it replaces for every
    input size (stride, padding, output_padding and dilation are all accounted for: see the
    docstring of :mod:`checkerscope.conversion.adapter`). Layers are found and swapped by
    :mod:`checkerscope.surgery`, so nesting in ``Sequential``, ``ModuleList``, ``ModuleDict``
    or attributes works, and a layer shared by several parents (or listed twice) is replaced
    by one shared replacement.

    Stride-1 ``ConvTranspose`` layers are left alone unless ``include_stride1=True``: their
    overlap is even, so they are not checkerboard-making upsamplers (the article calls them
    "quite effective at dampening artifacts"), and a resize-conv by 1 is a plain convolution,
    which cannot paint a 4x4 map from a 1x1 latent as a DCGAN's first layer does.

    Args:
        model: the model (or a single ``ConvTranspose`` layer, which is then returned replaced).
        mode: interpolation of the new layers, ``"nearest"`` (the article's choice) or
            ``"bilinear"``.
        init: ``"fresh"`` gives the new layers ``nn.ConvNd``'s own initialization.
            ``"project"`` sets each new kernel by least squares so that its interior operator
            is as close as possible (Frobenius norm, over all channel pairs) to the replaced
            layer's, and copies the bias: a start for fine-tuning a trained model. The relative
            residual ``||A_new - A_old|| / ||A_old||`` is stored on each replacement as
            ``projection_residual`` (0: the deconvolution was already a resize-conv).
        inplace: ``False`` converts a deep copy; ``True`` swaps layers inside ``model`` and
            returns it.
        kernel_size: kernel of the new layers; ``None`` uses each replaced layer's kernel size.
        padding_mode: border handling of the new layers: "reflect", "replicate" or "zeros".
            A ``ConvTranspose`` implies zeros, so with ``init="project"`` "zeros" keeps the
            border response too; "reflect" (the article's advice, and the default) changes it,
            which matters on small maps (a DCGAN's 4x4 stage is all border).
        include_stride1: also convert stride-1 ``ConvTranspose`` layers (into scale-1
            resize-convs, i.e. convolutions with matched output shape).
        return_report: also return a :class:`ConversionReport` (converted and skipped layers,
            each converted layer's relative operator residual, for either ``init``).

    Raises:
        ValueError: naming the layer and attribute, for a layer it cannot convert: groups != 1,
            strides that differ between axes, padding_mode other than zeros, lazy parameters;
            or for a bad argument.

    A model without a convertible layer is returned (copied unless ``inplace``) unchanged,
    with a ``UserWarning``. Hooks and parametrizations (e.g. spectral norm) on a replaced
    layer are not carried over; ``projection`` reads its effective ``weight``.

    Example:
        >>> g = torch.nn.Sequential(torch.nn.ConvTranspose2d(8, 4, 4, 2, 1), torch.nn.Tanh())
        >>> new = convert(g)
        >>> type(new[0]).__name__, new(torch.randn(1, 8, 5, 5)).shape
        ('ResizeConv2d', torch.Size([1, 4, 10, 10]))
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    v.one_of("mode", mode, R.MODES)
    v.one_of("init", init, INITS)
    v.one_of("padding_mode", padding_mode, R.PADDING_MODES)
    if isinstance(kernel_size, (tuple, list)):
        kernel_size = tuple(v.positive_int("kernel_size", k) for k in kernel_size)
    elif kernel_size is not None:
        v.positive_int("kernel_size", kernel_size)
    if not isinstance(inplace, bool):
        raise ValueError(f"inplace must be True or False, got {inplace!r}")

    if not inplace:
        model = copy.deepcopy(model)

    # Build every replacement before swapping any, so that an error leaves the model intact.
    replacements: dict[int, nn.Module] = {}
    converted: list[ConvertedLayer] = []
    skipped: list[tuple[str, str]] = []
    for name, m in find_modules(model, is_transposed_conv):
        if set(m.stride) == {1} and not include_stride1:
            skipped.append((name, "stride 1 (even overlap; include_stride1=True converts it)"))
            continue
        _check_convertible(name, m)
        new = _replacement(m, mode, kernel_size, padding_mode, name)
        new.train(m.training)
        if init == "project":
            new.projection_residual = project_weights(m, new)
            residual = new.projection_residual
        else:
            residual = projection_residual(m, new)
        for p_old, p_new in zip(_params(m), _params(resize_conv_and_window(new)[0]), strict=True):
            p_new.requires_grad_(p_old.requires_grad)
        replacements[id(m)] = new
        converted.append(ConvertedLayer(name, _short_repr(m), _short_repr(new), residual))
    root = replace_modules(model, replacements)

    report = ConversionReport(tuple(converted), tuple(skipped))
    if not converted:
        why = f"; skipped {len(skipped)} stride-1 layer(s)" if skipped else ""
        warnings.warn(
            f"convert() found no ConvTranspose1d/2d/3d layer to convert in "
            f"{type(model).__name__}{why}; returning the model unchanged",
            stacklevel=2,
        )
    return (root, report) if return_report else root


def _params(m: nn.Module) -> list[torch.Tensor]:
    return [p for p in (m.weight, m.bias) if p is not None]


def _short_repr(m: nn.Module) -> str:
    return " ".join(repr(m).split())
