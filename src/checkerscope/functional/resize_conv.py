"""Resize-convolution: interpolate by an integer factor, pad to 'same' size, convolve.

Odena, Dumoulin & Olah (2016), "Deconvolution and Checkerboard Artifacts": separating the
upsampling from the convolution gives a weight-tied linear operator that is biased against
checkerboard artifacts. ``impl="reference"`` below is the definition; the fused path computes
the same operator without materializing the upsampled tensor.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import torch
import torch.nn.functional as F

from checkerscope import checks as v

MODES = ("nearest", "bilinear")
PADDING_MODES = ("reflect", "replicate", "zeros")
IMPLS = ("auto", "fused", "reference")

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
_LINEAR_MODE = {1: "linear", 2: "bilinear", 3: "trilinear"}


def same_padding(kernel_size: int) -> tuple[int, int]:
    """(left, right) padding that keeps the length, as ``padding="same"`` in torch."""
    left = (kernel_size - 1) // 2
    return left, kernel_size - 1 - left


def interpolate(x: torch.Tensor, scale_factor: int, mode: str) -> torch.Tensor:
    """Upsample the spatial axes of (N, C, *spatial) ``x`` by the integer ``scale_factor``.

    ``mode="bilinear"`` means linear interpolation along every axis (linear, bilinear or
    trilinear by rank) with ``align_corners=False``.
    """
    dims = x.dim() - 2
    if mode == "nearest":
        return F.interpolate(x, scale_factor=float(scale_factor), mode="nearest")
    return F.interpolate(
        x, scale_factor=float(scale_factor), mode=_LINEAR_MODE[dims], align_corners=False
    )


def pad_same(x: torch.Tensor, kernel_size: tuple[int, ...], padding_mode: str) -> torch.Tensor:
    """Pad the spatial axes of ``x`` so that a stride-1 convolution keeps their size."""
    pads: list[int] = []
    for k in reversed(kernel_size):  # F.pad takes the last axis first
        pads.extend(same_padding(k))
    if not any(pads):
        return x
    if padding_mode == "zeros":
        return F.pad(x, pads)
    return F.pad(x, pads, mode=padding_mode)


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

    torch's reflect padding needs ``pad < size``; this names the layer's arguments instead.
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


def _impulse(t: int, scale_factor: int, mode: str) -> float:
    """Weight of one low-resolution sample at high-resolution offset ``t`` from its block."""
    if mode == "nearest":
        return 1.0 if 0 <= t < scale_factor else 0.0
    # align_corners=False puts sample i at high-resolution coordinate s*i + (s-1)/2.
    return max(0.0, 1.0 - abs(2 * t + 1 - scale_factor) / (2 * scale_factor))


class _AxisPlan(NamedTuple):
    """How the fused path treats one spatial axis; closed-form constants of (k, s, mode)."""

    lift: tuple[tuple[float, ...], ...]  # (K_t, k): the tied transposed-conv taps from w
    padding: int  # transposed-conv padding: crops the full output to s*L ...
    output_padding: int  # ... on both sides, minus this on the right
    trim: int  # further left crop, when output_padding would reach the stride
    low_pad: int  # replicate padding of x at low resolution, both sides
    left: int  # 'same' padding of the convolution, left and right
    right: int
    fix_left: bool  # border outputs that low-resolution padding cannot make exact
    fix_right: bool
    strip: int  # low-resolution samples the reference needs to recompute a border


@functools.cache
def _axis_plan(k: int, s: int, mode: str, padding_mode: str) -> _AxisPlan:
    # y[n] = sum_j w[j] u[n + j - left] with u[m] = sum_i x[i] b(m - s*i), so
    # y[n] = sum_i x[i] v(n - s*i) with v(t) = sum_j w[j] b(t + j - left): a transposed
    # convolution with stride s whose kernel v is a fixed linear map ("lift") of w.
    left, right = same_padding(k)
    support = [t for t in range(-s, 2 * s) if _impulse(t, s, mode) != 0.0]
    t_min, t_max = support[0] - right, support[-1] + left
    taps = t_max - t_min + 1
    lift = tuple(
        tuple(_impulse(t + t_min + j - left, s, mode) for j in range(k)) for t in range(taps)
    )
    # Interpolation clamps at the borders, so inside [0, s*L) the upsampled signal is that of
    # x extended by replication; nearest + zeros needs the zero extension instead, i.e. none.
    replicate_ext = not (mode == "nearest" and padding_mode == "zeros")
    low_pad = max(0, t_max // s, (s - 1 - t_min) // s) if replicate_ext else 0
    crop_left = -t_min + s * low_pad
    crop_right = s * low_pad + t_max + 1 - s
    if crop_left - crop_right < s:  # crop_left - crop_right == right - left, 0 or 1
        padding, output_padding, trim = crop_left, crop_left - crop_right, 0
    else:
        padding, output_padding, trim = crop_right, 0, crop_left - crop_right

    def needs_fix(pad: int) -> bool:
        # Replicate padding of u equals the replicated low-resolution extension. So does
        # reflect padding of a nearest-upsampled u while the pad stays within one block.
        if pad == 0 or padding_mode == "replicate":
            return False
        if padding_mode == "zeros":
            return mode != "nearest"
        return mode != "nearest" or pad >= s

    # The strip's interpolation must match the full input up to u[reach]: linear reads one
    # sample past floor((reach + 0.5) / s - 0.5); its own reflect pads need s * strip > pad.
    reach = max(k - 2, left, right)
    strip = max((2 * reach + 1 - s) // (2 * s) + 2, right // s + 1)
    return _AxisPlan(
        lift,
        padding,
        output_padding,
        trim,
        low_pad,
        left,
        right,
        needs_fix(left),
        needs_fix(right),
        strip,
    )


def _transposed(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    scale_factor: int,
    plans: list[_AxisPlan],
) -> torch.Tensor:
    """The polyphase part: one strided transposed convolution with the lifted kernel."""
    dims = x.dim() - 2
    # Lift in at least float32: taps are sums of several weights. The lift of all axes is one
    # Kronecker-product matrix, hence one small matmul; an einsum ran as thousands of tiny
    # batched products and cost more than the padding.
    compute = weight.dtype if weight.dtype in (torch.float32, torch.float64) else torch.float32
    lifts = [torch.tensor(p.lift, dtype=compute, device=weight.device) for p in plans]
    lift = functools.reduce(torch.kron, lifts)
    c_out, c_in = weight.shape[:2]
    taps = weight.to(compute).reshape(c_out * c_in, -1) @ lift.T
    # conv_transpose wants (C_in, C_out, *taps); it reorders the weight anyway, so a view.
    taps = taps.reshape(c_out, c_in, *(len(p.lift) for p in plans)).transpose(0, 1)
    taps = taps.to(weight.dtype)
    if any(p.low_pad for p in plans):
        pads: list[int] = []
        for p in reversed(plans):
            pads.extend((p.low_pad, p.low_pad))
        x = F.pad(x, pads, mode="replicate")
    y = _CONV_T[dims](
        x,
        taps,
        bias,
        stride=scale_factor,
        padding=tuple(p.padding for p in plans),
        output_padding=tuple(p.output_padding for p in plans),
    )
    for axis, p in enumerate(plans):
        if p.trim:
            size = scale_factor * (x.shape[2 + axis] - 2 * p.low_pad)
            y = y.narrow(2 + axis, p.trim, size)
    return y


def _border(
    strip: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    scale_factor: int,
    mode: str,
    padding_mode: str,
    dim: int,
    side: int,
) -> torch.Tensor:
    """The reference's outputs in the 'same' padding of one border (side 0 left, 1 right).

    Runs the reference on a thin low-resolution ``strip`` along ``dim``, convolving only the
    padded upsampled rows those outputs read.
    """
    k = weight.shape[dim]
    count = same_padding(k)[side]
    up = pad_same(interpolate(strip, scale_factor, mode), tuple(weight.shape[2:]), padding_mode)
    start = 0 if side == 0 else up.shape[dim] - (count + k - 1)
    return _CONV[strip.dim() - 2](up.narrow(dim, start, count + k - 1), weight, bias)


def fused_supported(
    kernel_size: tuple[int, ...],
    sizes: tuple[int, ...],
    scale_factor: int,
    mode: str = "nearest",
    padding_mode: str = "reflect",
) -> bool:
    """Whether :func:`resize_conv_fused` takes its fused path for this kernel and input size.

    Where it is False, the border strips that the fused path recomputes by the reference
    would span a whole input axis (small inputs, with reflect padding wider than a block or
    linear interpolation with reflect or zero padding), so it runs the reference instead.

    Example:
        >>> fused_supported((3, 3), (8, 8), 2, "bilinear", "reflect")
        True
        >>> fused_supported((3, 3), (1, 8), 2, "bilinear", "reflect")
        False
    """
    for k, size in zip(kernel_size, sizes, strict=True):
        p = _axis_plan(k, scale_factor, mode, padding_mode)
        if (p.fix_left or p.fix_right) and p.strip >= size:
            return False
    return True


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
    upsampled tensor: for k=3, s=2, nearest it costs one ``conv_transpose`` with a 4-tap
    kernel per axis, as ``ConvTranspose2d(kernel_size=4, stride=2)``. Where padding the
    low-resolution input cannot reproduce the high-resolution padding (reflect wider than
    one block, linear with reflect or zeros), the few border outputs are recomputed by the
    reference on thin strips of the input; inputs too small for the strips run the reference
    (:func:`fused_supported`). Shapes as :func:`resize_conv_reference`; the arguments are
    not checked here, :func:`resize_conv` checks them.

    Example:
        >>> x, w = torch.randn(1, 3, 8, 8), torch.randn(4, 3, 3, 3)
        >>> torch.allclose(resize_conv_fused(x, w, None, 2), resize_conv_reference(x, w, None, 2),
        ...                atol=1e-5)
        True
    """
    # Plain ints: under torch.jit.trace, sizes are traced values that must not key the cache.
    kernel_size = tuple(int(k) for k in weight.shape[2:])
    sizes = [int(n) for n in x.shape[2:]]
    if not fused_supported(kernel_size, tuple(sizes), scale_factor, mode, padding_mode):
        return resize_conv_reference(x, weight, bias, scale_factor, mode, padding_mode)
    plans = [_axis_plan(k, scale_factor, mode, padding_mode) for k in kernel_size]
    y = _transposed(x, weight, bias, scale_factor, plans)
    for axis, (p, size) in enumerate(zip(plans, sizes, strict=True)):
        if not (p.fix_left or p.fix_right):
            continue
        dim, n = 2 + axis, scale_factor * size
        # Spliced with cat, not written in place, so autograd and tracing see plain ops.
        lo, hi = (p.left if p.fix_left else 0), (n - p.right if p.fix_right else n)
        parts = [y.narrow(dim, lo, hi - lo)]
        if p.fix_left:
            strip = x.narrow(dim, 0, p.strip)
            parts.insert(0, _border(strip, weight, bias, scale_factor, mode, padding_mode, dim, 0))
        if p.fix_right:
            strip = x.narrow(dim, size - p.strip, p.strip)
            parts.append(_border(strip, weight, bias, scale_factor, mode, padding_mode, dim, 1))
        y = torch.cat(parts, dim)
    return y


def resize_conv(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    scale_factor: int,
    mode: str = "nearest",
    padding_mode: str = "reflect",
    impl: str = "auto",
) -> torch.Tensor:
    """Resize-convolution, by ``impl``: "reference", "fused", or "auto".

    "auto" is the fused path, except at ``scale_factor=1`` where there is nothing to fuse and
    the reference is a plain padded convolution. Shapes as :func:`resize_conv_reference`.

    Example:
        >>> resize_conv(torch.randn(2, 3, 8, 8), torch.randn(4, 3, 3, 3), None, 2).shape
        torch.Size([2, 4, 16, 16])
    """
    scale_factor = v.scale_factor("scale_factor", scale_factor)
    v.one_of("mode", mode, MODES)
    v.one_of("padding_mode", padding_mode, PADDING_MODES)
    v.one_of("impl", impl, IMPLS)
    if not isinstance(weight, torch.Tensor) or not 3 <= weight.dim() <= 5:
        shape = tuple(weight.shape) if isinstance(weight, torch.Tensor) else type(weight).__name__
        raise ValueError(
            f"weight must have shape (C_out, C_in, *kernel) with 1 to 3 kernel axes, got {shape}"
        )
    v.check_input("input", x, dims=weight.dim() - 2, channels=weight.shape[1])
    check_reflect_fits(x, tuple(weight.shape[2:]), scale_factor, padding_mode)
    if impl == "reference" or (impl == "auto" and scale_factor == 1):
        return resize_conv_reference(x, weight, bias, scale_factor, mode, padding_mode)
    return resize_conv_fused(x, weight, bias, scale_factor, mode, padding_mode)
