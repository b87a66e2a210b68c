"""Replace the layers of a model that make checkerboards by ones that do not, keeping shapes.

Odena, Dumoulin & Olah (2016), "Deconvolution and Checkerboard Artifacts": swapping the
deconvolutions of a generator for nearest-neighbour resize followed by a convolution removes
its checkerboard artifacts. :func:`convert` makes that swap on an existing model, keeping
every output shape (:mod:`~checkerscope.conversion.adapter`); ``init="project"`` also carries
trained weights over by least squares (:mod:`~checkerscope.conversion.projection`). On request
it also anti-aliases the downsampling layers (Zhang 2019,
:mod:`~checkerscope.conversion.downsample`) and fixes sub-pixel upsamplers (Aitken et al. 2017,
:mod:`~checkerscope.conversion.subpixel`).
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass, field

import torch
from torch import nn

from checkerscope import checks as v
from checkerscope.analysis.layers import is_transposed_conv
from checkerscope.conversion.adapter import (
    ResizeConvAdapter,
    matching_window,
    resize_conv_and_window,
)
from checkerscope.conversion.distillation import LR, STEPS, Inputs, distill
from checkerscope.conversion.downsample import downsampling_replacement, is_strided_downsampler
from checkerscope.conversion.projection import project_weights, projection_residual
from checkerscope.conversion.report import ConversionReport, ConvertedLayer
from checkerscope.conversion.subpixel import (
    SUBPIXEL_FIXES,
    apply_icnr,
    check_fixable,
    project_subpixel,
    resize_conv_for,
    subpixel_residual,
)
from checkerscope.conversion.subpixel_pairs import SubPixelPair, find_subpixel_pairs
from checkerscope.functional import resize_conv as R
from checkerscope.nn.resize_conv import ResizeConv1d, ResizeConv2d, ResizeConv3d
from checkerscope.surgery import find_modules, replace_modules

INITS = ("fresh", "project", "distill")
"""What ``convert(init=...)`` accepts: a fresh initialization, the least-squares projection, or
the projection trained to reproduce the model without its checkerboard."""

_RESIZE_CONV = {1: ResizeConv1d, 2: ResizeConv2d, 3: ResizeConv3d}

STRIDE1_SKIP = "stride 1 (even overlap; include_stride1=True converts it)"
"""Why a stride-1 ``ConvTranspose`` is left as it is (see :func:`convert`)."""

SCRIPTED_SKIP = (
    "a TorchScript module: its layers cannot be swapped (convert the eager module, then script "
    "or trace it)"
)
"""Why a scripted or traced submodule is left as it is."""


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
    return ResizeConvAdapter(resize, offset, extra, tuple(deconv.output_padding))


@dataclass
class _Plan:
    """Everything convert() will do, gathered before anything is changed."""

    replacements: dict[int, nn.Module] = field(default_factory=dict)
    converted: list[ConvertedLayer] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    icnr: list[SubPixelPair] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _plan_transposed(
    model: nn.Module,
    plan: _Plan,
    mode: str,
    init: str,
    kernel_size: int | tuple[int, ...] | None,
    padding_mode: str,
    include_stride1: bool,
) -> None:
    for name, m in find_modules(model, is_transposed_conv):
        if set(m.stride) == {1} and not include_stride1:
            plan.skipped.append((name, STRIDE1_SKIP))
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
        plan.replacements[id(m)] = new
        plan.converted.append(ConvertedLayer(name, _short_repr(m), _short_repr(new), residual))


def _plan_downsampling(model: nn.Module, plan: _Plan) -> None:
    for name, m in find_modules(model, is_strided_downsampler):
        new = downsampling_replacement(name, m)
        if isinstance(new, str):
            plan.skipped.append((name, new))
            continue
        plan.replacements[id(m)] = new
        plan.converted.append(
            ConvertedLayer(name, _short_repr(m), _short_repr(new), None, "downsample")
        )


def _plan_subpixel(
    model: nn.Module,
    plan: _Plan,
    fix: str,
    mode: str,
    init: str,
    kernel_size: int | tuple[int, ...] | None,
    padding_mode: str,
) -> None:
    pairs, notes = find_subpixel_pairs(model)
    plan.notes.extend(notes)
    for pair in pairs:
        check_fixable(pair, fix)
    for pair in pairs:
        original = f"{_short_repr(pair.conv)} + {_short_repr(pair.shuffle)}"
        if fix == "icnr":
            plan.icnr.append(pair)
            continue
        k_new = pair.conv.kernel_size if kernel_size is None else kernel_size
        try:
            k_new = v.ntuple("kernel_size", k_new, pair.dims)
        except ValueError as err:
            raise ValueError(f"cannot convert layer {pair.conv_name!r}: {err}") from None
        new = resize_conv_for(pair, mode, k_new, padding_mode)
        if init == "project":
            new.projection_residual = project_subpixel(pair, new)
            residual = new.projection_residual
        else:
            residual = subpixel_residual(pair, new)
        plan.replacements[id(pair.conv)] = new
        plan.replacements[id(pair.shuffle)] = nn.Identity()
        replacement = f"{_short_repr(new)} + Identity()"
        plan.converted.append(
            ConvertedLayer(pair.conv_name, original, replacement, residual, "subpixel")
        )


def _apply_icnr(plan: _Plan, init: str) -> None:
    for pair in plan.icnr:
        residual = apply_icnr(pair, init)
        original = f"{_short_repr(pair.conv)} + {_short_repr(pair.shuffle)}"
        what = "ICNR" if init == "fresh" else "ICNR projection"
        plan.converted.append(
            ConvertedLayer(pair.conv_name, original, f"the same, {what}", residual, "subpixel")
        )


def _scripted(model: nn.Module, plan: _Plan) -> None:
    if isinstance(model, torch.jit.ScriptModule):
        raise ValueError(
            f"model is a TorchScript module ({type(model).__name__}, made by torch.jit.script "
            f"or torch.jit.trace), whose compiled code cannot have its layers swapped; convert "
            f"the eager nn.Module first, then script or trace the result"
        )
    outer: list[str] = []
    for name, m in model.named_modules():
        inside = any(name.startswith(f"{o}.") for o in outer)
        if isinstance(m, torch.jit.ScriptModule) and not inside:
            outer.append(name)
            plan.skipped.append((name, SCRIPTED_SKIP))


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
    transposed: bool = True,
    downsample: bool = False,
    subpixel: str | None = None,
    inputs: Inputs | None = None,
    steps: int | None = None,
    lr: float | None = None,
    progress: bool = True,
) -> nn.Module | tuple[nn.Module, ConversionReport]:
    """Replace the layers of ``model`` that make checkerboards: every ``ConvTranspose1d/2d/3d``
    by a resize-convolution and, on request, strided downsampling layers by anti-aliased ones
    and sub-pixel upsamplers by checkerboard-free ones.

    Each ``ConvTranspose`` replacement has the same in/out channels, bias presence, dtype and
    device, upsamples by the layer's stride, and gives the same output shape as the layer it
    replaces for every input size (stride, padding, output_padding and dilation are all
    accounted for: see the docstring of :mod:`checkerscope.conversion.adapter`), also when the
    model calls it with ``output_size=`` (as U-Nets do to match a skip connection). Layers are
    found and swapped by :mod:`checkerscope.surgery`, so nesting in ``Sequential``,
    ``ModuleList``, ``ModuleDict`` or attributes works, and a layer shared by several parents
    (or listed twice) is replaced by one shared replacement.

    Stride-1 ``ConvTranspose`` layers are left alone unless ``include_stride1=True``: their
    overlap is even, so they are not checkerboard-making upsamplers (the article calls them
    "quite effective at dampening artifacts"), and a resize-conv by 1 is a plain convolution,
    which cannot paint a 4x4 map from a 1x1 latent as a DCGAN's first layer does.

    Args:
        model: the model (or a single layer, which is then returned replaced).
        mode: interpolation of the new resize-convolutions, ``"nearest"`` (the article's
            choice) or ``"bilinear"``.
        init: ``"fresh"`` gives the new layers ``nn.ConvNd``'s own initialization.
            ``"project"`` sets each new kernel by least squares so that its interior operator
            is as close as possible (Frobenius norm, over all channel pairs) to the replaced
            layer's, and copies the bias: a start for fine-tuning a trained model. The relative
            residual ``||A_new - A_old|| / ||A_old||`` is stored on each replacement as
            ``projection_residual`` (0: the deconvolution was already a resize-conv).
            For sub-pixel pairs see ``subpixel``; downsampling swaps always keep the weights.
            ``"distill"`` starts from the projection, then trains the new layers (the
            replacements and ICNR-tied convolutions; everything else stays as it was) for
            ``steps`` Adam steps (``lr``) so that the converted model reproduces ``model``'s
            outputs on ``inputs`` with :func:`checkerscope.checkerboard_loss` added (see
            :mod:`~checkerscope.conversion.distillation`, which says why), with a progress bar
            unless ``progress=False``; the report's ``distillation`` gives the checkerboard
            score before and after and the PSNR against ``model``'s outputs.
        inplace: ``False`` converts a deep copy; ``True`` swaps layers inside ``model`` and
            returns it.
        kernel_size: kernel of the new resize-convolutions; ``None`` uses each replaced
            layer's kernel size.
        padding_mode: border handling of the new resize-convolutions: "reflect", "replicate"
            or "zeros". A ``ConvTranspose`` implies zeros, so with ``init="project"`` "zeros"
            keeps the border response too; "reflect" (the article's advice, and the default)
            changes it, which matters on small maps (a DCGAN's 4x4 stage is all border).
        include_stride1: also convert stride-1 ``ConvTranspose`` layers (into scale-1
            resize-convs, i.e. convolutions with matched output shape).
        return_report: also return a :class:`ConversionReport` (converted and skipped layers,
            each converted layer's relative operator residual, for either ``init``).
        transposed: replace ``ConvTranspose`` layers (the default); ``False`` leaves them.
        downsample: also swap strided ``Conv1d/2d`` for ``AntiAliasedConv1d/2d``,
            ``MaxPool1d/2d`` for ``MaxBlurPool1d/2d`` and strided ``AvgPool1d/2d`` for a
            blur-pool (Zhang 2019), keeping weights and every output shape; 3-D layers,
            strides that differ between axes and max pools that return indices are left as
            they are (see :mod:`checkerscope.conversion.downsample`).
        subpixel: also fix convolution -> pixel shuffle pairs (found as
            :mod:`checkerscope.conversion.subpixel_pairs` says): ``"icnr"`` ties their phases
            by ICNR, re-drawn (``init="fresh"``) or projected from the trained weights
            (``init="project"``), keeping the model's structure; ``"resize_conv"`` replaces
            each pair by a resize-convolution (the shuffle becomes ``nn.Identity``). ``None``
            (the default) leaves them alone.
        inputs: ``init="distill"`` only: example inputs of ``model``, as a tensor (N, ...)
            drawn 16 at a time, an iterable of batches (a list, a DataLoader: a tuple batch
            gives its first item) or a callable returning a batch (e.g. noise for a generator).
        steps, lr: ``init="distill"`` only: training steps (default 200) and Adam's learning
            rate (default 1e-3).
        progress: ``init="distill"`` only: show a progress bar.

    Raises:
        ValueError: naming the layer and attribute, for a layer it cannot convert: groups != 1,
            strides that differ between axes, padding_mode other than zeros, lazy parameters;
            for a TorchScript model (script or trace the converted eager model instead);
            or for a bad argument.

    A model without a convertible layer is returned (copied unless ``inplace``) unchanged,
    with a ``UserWarning``. Hooks and parametrizations (e.g. spectral norm) on a replaced
    layer are not carried over; ``projection`` reads its effective ``weight``.

    Example:
        >>> g = torch.nn.Sequential(torch.nn.ConvTranspose2d(8, 4, 4, 2, 1), torch.nn.Tanh())
        >>> new = convert(g)
        >>> type(new[0]).__name__, new(torch.randn(1, 8, 5, 5)).shape
        ('ResizeConv2d', torch.Size([1, 4, 10, 10]))
        >>> d = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, 2, 1), torch.nn.MaxPool2d(2))
        >>> [type(m).__name__ for m in convert(d, transposed=False, downsample=True)]
        ['AntiAliasedConv2d', 'MaxBlurPool2d']
        >>> up = torch.nn.ConvTranspose1d(1, 1, 3, 2, 1, 1)
        >>> new, report = convert(up, init="distill", inputs=torch.rand(8, 1, 32), steps=5,
        ...                       progress=False, return_report=True)
        >>> report.distillation.steps, type(new).__name__
        (5, 'ResizeConv1d')
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
    for name, flag in (
        ("inplace", inplace),
        ("transposed", transposed),
        ("downsample", downsample),
        ("progress", progress),
    ):
        if not isinstance(flag, bool):
            raise ValueError(f"{name} must be True or False, got {flag!r}")
    if subpixel is not None:
        v.one_of("subpixel", subpixel, SUBPIXEL_FIXES)
    if init == "distill" and inputs is None:
        raise ValueError("init='distill' needs inputs: example inputs of the model to train on")
    given = [n for n, x in (("inputs", inputs), ("steps", steps), ("lr", lr)) if x is not None]
    if init != "distill" and given:
        raise ValueError(f"{', '.join(given)} only apply to init='distill', got init={init!r}")
    if steps is not None:
        v.positive_int("steps", steps)
    if lr is not None:
        v.positive_number("lr", lr)
    if not (transposed or downsample or subpixel):
        raise ValueError(
            "convert() has nothing to do with transposed=False, downsample=False and "
            "subpixel=None; set at least one"
        )
    plan = _Plan()
    _scripted(model, plan)
    teacher = copy.deepcopy(model) if init == "distill" else None
    start = "project" if init == "distill" else init

    if not inplace:
        model = copy.deepcopy(model)

    # Build every replacement before swapping any, so that an error leaves the model intact.
    if transposed:
        _plan_transposed(model, plan, mode, start, kernel_size, padding_mode, include_stride1)
    if downsample:
        _plan_downsampling(model, plan)
    if subpixel is not None:
        _plan_subpixel(model, plan, subpixel, mode, start, kernel_size, padding_mode)
    _apply_icnr(plan, start)
    root = replace_modules(model, plan.replacements)

    distillation = None
    if teacher is not None and plan.converted:
        layers = [*plan.replacements.values(), *(pair.conv for pair in plan.icnr)]
        steps, lr = STEPS if steps is None else steps, LR if lr is None else lr
        distillation = distill(teacher, root, layers, inputs, steps, lr, progress=progress)
    report = ConversionReport(
        tuple(plan.converted), tuple(plan.skipped), tuple(plan.notes), distillation
    )
    if not plan.converted:
        warnings.warn(
            _nothing_converted(model, plan, transposed, downsample, subpixel), stacklevel=2
        )
    return (root, report) if return_report else root


def _nothing_converted(
    model: nn.Module, plan: _Plan, transposed: bool, downsample: bool, subpixel: str | None
) -> str:
    looked_for = [
        what
        for what, on in (
            ("ConvTranspose1d/2d/3d layer", transposed),
            ("strided Conv/MaxPool/AvgPool1d/2d layer", downsample),
            ("convolution -> pixel shuffle pair", subpixel is not None),
        )
        if on
    ]
    stride1 = sum(why == STRIDE1_SKIP for _, why in plan.skipped)
    others = len(plan.skipped) - stride1
    why = f"; skipped {stride1} stride-1 layer(s)" if stride1 else ""
    why += f"; left {others} layer(s) as they are (see the report)" if others else ""
    what = ", ".join(looked_for[:-1]) + (" or " if len(looked_for) > 1 else "") + looked_for[-1]
    return (
        f"convert() found no {what} to convert in {type(model).__name__}{why}; "
        f"returning the model unchanged"
    )


def _params(m: nn.Module) -> list[torch.Tensor]:
    return [p for p in (m.weight, m.bias) if p is not None]


def _short_repr(m: nn.Module) -> str:
    return " ".join(repr(m).split())
