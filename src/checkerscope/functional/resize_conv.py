"""Resize-convolution: interpolate by an integer factor, pad to 'same' size, convolve.

Odena, Dumoulin & Olah (2016), "Deconvolution and Checkerboard Artifacts": separating the
upsampling from the convolution gives a weight-tied linear operator that is biased against
checkerboard artifacts. ``impl="reference"`` below is the definition; the fused path computes
the same operator as one transposed convolution on the low-resolution input, the cost of
the ``ConvTransposeNd`` it replaces, plus border terms whose work is proportional to the
border (:mod:`checkerscope.functional.resize_conv_plan`: one axis; ``resize_conv_program``:
all axes; ``resize_conv_terms``: running it).

Both paths use only operations with a deterministic CUDA implementation (the padding and the
linear interpolation are written out in :mod:`checkerscope.functional.padding` and
``upsampling``), and neither reads an input size into Python: they trace, export and compile
with dynamic sizes.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from checkerscope import checks as v
from checkerscope.functional.padding import pad
from checkerscope.functional.resize_conv_cost import faster_path
from checkerscope.functional.resize_conv_plan import axis_plan, same_padding
from checkerscope.functional.resize_conv_program import kernels, program
from checkerscope.functional.resize_conv_terms import FusedTerms, run
from checkerscope.functional.upsampling import upsample

MODES = ("nearest", "bilinear")
# Another name for a mode that computes the same thing: torch's "nearest-exact" picks the
# input sample floor((m + 1/2) / s), which for an integer scale s is floor(m / s), nearest's.
MODE_ALIASES = {"nearest-exact": "nearest"}
PADDING_MODES = ("reflect", "replicate", "zeros")
IMPLS = ("auto", "fused", "reference")

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def canonical_mode(mode: Any) -> str:
    """``mode`` checked and with aliases resolved: "nearest-exact" is "nearest".

    Example:
        >>> canonical_mode("nearest-exact")
        'nearest'
    """
    return v.one_of("mode", MODE_ALIASES.get(mode, mode) if isinstance(mode, str) else mode, MODES)


def interpolate(x: torch.Tensor, scale_factor: int, mode: str) -> torch.Tensor:
    """Upsample the spatial axes of (N, C, *spatial) ``x`` by the integer ``scale_factor``.

    ``mode="bilinear"`` means linear interpolation along every axis (linear, bilinear or
    trilinear by rank) with ``align_corners=False``; see
    :func:`checkerscope.functional.upsampling.upsample`.
    """
    return upsample(x, scale_factor, mode)


def pad_same(x: torch.Tensor, kernel_size: tuple[int, ...], padding_mode: str) -> torch.Tensor:
    """Pad the spatial axes of ``x`` so that a stride-1 convolution keeps their size."""
    return pad(x, [same_padding(k) for k in kernel_size], padding_mode)


def resize_conv_reference(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    scale_factor: int,
    mode: str = "nearest",
    padding_mode: str = "reflect",
) -> torch.Tensor:
    """Resize-convolution by its definition: interpolate, pad, convolve.

    Shapes: ``x`` (N, C_in, *S), ``weight`` (C_out, C_in, *K), ``bias`` (C_out,) or None;
    returns (N, C_out, *(s * S)).

    Example:
        >>> x = torch.randn(1, 3, 8, 8)
        >>> resize_conv_reference(x, torch.randn(4, 3, 3, 3), None, 2).shape
        torch.Size([1, 4, 16, 16])
    """
    dims = x.dim() - 2
    up = interpolate(x, scale_factor, mode)
    up = pad_same(up, tuple(weight.shape[2:]), padding_mode)
    return _CONV[dims](up, weight, bias)


def check_reflect_fits(
    x: torch.Tensor, kernel_size: tuple[int, ...], scale_factor: int, padding_mode: str
) -> None:
    """Raise a ValueError if reflect padding would be as wide as the upsampled input.

    Reflect padding needs ``pad < size``; this names the layer's arguments instead.
    """
    if padding_mode != "reflect":
        return
    for axis, (k, size) in enumerate(zip(kernel_size, x.shape[2:], strict=True)):
        widest = max(same_padding(k))
        if widest >= scale_factor * size:
            raise ValueError(
                f"padding_mode='reflect' with kernel_size={k} pads {widest} on spatial axis "
                f"{axis}, which needs an upsampled size > {widest}, but the input of shape "
                f"{tuple(x.shape)} upsamples to {scale_factor * size} there; use a larger "
                f"input or padding_mode='replicate'"
            )


def fused_supported(
    kernel_size: tuple[int, ...],
    sizes: tuple[Any, ...],
    scale_factor: int,
    mode: str = "nearest",
    padding_mode: str = "reflect",
) -> bool:
    """Whether :func:`resize_conv_fused` takes its fused path for this kernel and input size.

    It is exact on every input where the input extended by replicated samples gives the
    resize-convolution (replicate padding; nearest with zeros; nearest with reflect padding
    narrower than s), and otherwise from :attr:`AxisPlan.min_size
    <checkerscope.functional.resize_conv_plan.AxisPlan.min_size>` samples an axis: 1 except
    for reflect padding, where the two ends of a very short input reflect into each other
    (at most 4 samples for k <= 11, s <= 5). Shorter inputs run the reference.

    Example:
        >>> fused_supported((3, 3), (8, 8), 2, "bilinear", "reflect")
        True
        >>> fused_supported((3, 3), (1, 8), 2, "bilinear", "reflect")
        False
    """
    plans = [axis_plan(k, scale_factor, mode, padding_mode) for k in kernel_size]
    if all(p.ghost_exact for p in plans):  # exact on any length
        return True
    for p, size in zip(plans, sizes, strict=True):
        # Compared only where it can fail: a comparison of a symbolic size is a guard.
        if p.min_size > 1 and size < p.min_size:
            return False
    return True


def _custom_backward(*tensors: torch.Tensor | None) -> bool:
    """Whether to run the fused path as one autograd node with its own backward.

    Only for eager autograd: tracing, exporting and compiling see plain operations.
    """
    if not torch.is_grad_enabled() or torch.jit.is_tracing() or torch.compiler.is_compiling():
        return False
    return any(t is not None and t.requires_grad for t in tensors)


def resize_conv_fused(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    scale_factor: int,
    mode: str = "nearest",
    padding_mode: str = "reflect",
) -> torch.Tensor:
    """Resize-convolution as a weight-tied transposed convolution on the low-resolution input.

    Equal to :func:`resize_conv_reference` (values and gradients) without materializing the
    upsampled tensor: for k=3, s=2, nearest it is one ``conv_transpose`` with a 4-tap kernel
    per axis, the work of ``ConvTranspose2d(kernel_size=4, stride=2, padding=1)``. At the
    borders, either the input is extended by a replicated sample at each end (where that is
    exact: replicate padding, nearest with zeros or with reflect padding narrower than s; in
    3-D), or small border terms are added (:mod:`resize_conv_program`); inputs shorter
    than those terms need (:func:`fused_supported`) run the reference. Shapes as
    :func:`resize_conv_reference`; the arguments are not checked here, :func:`resize_conv`
    checks them.

    Example:
        >>> x, w = torch.randn(1, 3, 8, 8), torch.randn(4, 3, 3, 3)
        >>> torch.allclose(resize_conv_fused(x, w, None, 2), resize_conv_reference(x, w, None, 2),
        ...                atol=1e-5)
        True
    """
    # Kernel sizes are constants of the layer; under torch.jit.trace they arrive as traced
    # values, and the plans need Python ints.
    kernel_size = tuple(int(k) for k in weight.shape[2:])
    if not fused_supported(kernel_size, tuple(x.shape[2:]), scale_factor, mode, padding_mode):
        return resize_conv_reference(x, weight, bias, scale_factor, mode, padding_mode)
    prog = program(kernel_size, scale_factor, mode, padding_mode)
    if _custom_backward(x, weight, bias):
        return FusedTerms.apply(x, weight, bias, prog)[0]
    return run(prog, x, bias, kernels(prog, weight))


def auto_impl(
    kernel_size: tuple[int, ...],
    scale_factor: int,
    mode: str,
    padding_mode: str = "reflect",
    input_shape: tuple[int, ...] | None = None,
    out_channels: int | None = None,
    device_type: str = "cpu",
) -> str:
    """The path ``impl="auto"`` takes: "fused" or "reference".

    At scale 1 there is nothing to fuse: the reference is one padded convolution. On CUDA,
    the reference: its few large kernels beat the fused path's many small ones (its border
    terms) at the shapes of ``benchmarks/layers.py``, by 1.1x to 7.7x on an H200 (float32 and
    bfloat16, torch 2.11), in 65 of 66 cases (the other: a 48^3 volume in float32, where the
    fused path was 18% faster); those shapes take 0.4-1 ms per step, launch-bound. On the CPU,
    given the input's shape (N, C_in, *spatial) and ``out_channels``, the path that
    :func:`checkerscope.functional.resize_conv_cost.faster_path` predicts is faster, in 1-D,
    2-D and 3-D: the reference on small inputs, and at a few pixels with hundreds of
    channels, where the fused path's border terms and kernels cost more than they save.
    Without them (while tracing, compiling or exporting, where a size read in Python would be
    a guard), the fused path.

    Example:
        >>> auto_impl((3, 3), 2, "nearest"), auto_impl((3, 3), 1, "nearest")
        ('fused', 'reference')
        >>> auto_impl((3, 3), 2, "bilinear", "reflect", (1, 512, 4, 4), 256)
        'reference'
        >>> auto_impl((3, 3), 2, "nearest", "reflect", (32, 128, 16, 16), 64)
        'fused'
        >>> auto_impl((3, 3), 2, "nearest", device_type="cuda")
        'reference'
    """
    if scale_factor == 1 or device_type == "cuda":
        return "reference"
    if input_shape is None or out_channels is None:
        return "fused"
    return faster_path(kernel_size, scale_factor, mode, padding_mode, input_shape, out_channels)


def eager_shape(x: torch.Tensor) -> tuple[int, ...] | None:
    """``x``'s shape as Python ints, or None while tracing, compiling or exporting."""
    if torch.jit.is_tracing() or torch.compiler.is_compiling():
        return None
    shape = tuple(x.shape)
    return shape if all(type(n) is int for n in shape) else None


def resize_conv(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    scale_factor: int,
    mode: str = "nearest",
    padding_mode: str = "reflect",
    impl: str = "auto",
) -> torch.Tensor:
    """Resize-convolution, by ``impl``: "reference", "fused", or "auto" (:func:`auto_impl`,
    which in eager mode reads the input's shape).

    Shapes as :func:`resize_conv_reference`; ``mode`` may also be "nearest-exact", which is
    "nearest" at an integer scale.

    Example:
        >>> resize_conv(torch.randn(2, 3, 8, 8), torch.randn(4, 3, 3, 3), None, 2).shape
        torch.Size([2, 4, 16, 16])
    """
    scale_factor = v.scale_factor("scale_factor", scale_factor)
    mode = canonical_mode(mode)
    v.one_of("padding_mode", padding_mode, PADDING_MODES)
    v.one_of("impl", impl, IMPLS)
    if not isinstance(weight, torch.Tensor) or not 3 <= weight.dim() <= 5:
        shape = tuple(weight.shape) if isinstance(weight, torch.Tensor) else type(weight).__name__
        raise ValueError(
            f"weight must have shape (C_out, C_in, *kernel) with 1 to 3 kernel axes, got {shape}"
        )
    v.check_input("input", x, dims=weight.dim() - 2, channels=weight.shape[1])
    kernel_size = tuple(weight.shape[2:])
    check_reflect_fits(x, kernel_size, scale_factor, padding_mode)
    if impl == "auto":
        shape = eager_shape(x)
        impl = auto_impl(
            kernel_size, scale_factor, mode, padding_mode, shape, weight.shape[0], x.device.type
        )
    if impl == "reference":
        return resize_conv_reference(x, weight, bias, scale_factor, mode, padding_mode)
    return resize_conv_fused(x, weight, bias, scale_factor, mode, padding_mode)
