"""The fixes for sub-pixel upsamplers (the pairs of :mod:`~checkerscope.conversion.subpixel_pairs`).

A convolution to ``C s^d`` channels and a pixel shuffle give each of the s^d output phases its
own kernel; drawn independently, the phases get different gains, a checkerboard before any
training. Two fixes, each fresh or from the trained weights (``init``):

* ``"icnr"`` (Aitken et al. 2017): the phases share one kernel. ``init="fresh"`` draws one
  ``nn.ConvNd``-initialized sub-kernel and bias and copies them into every phase
  (:func:`checkerscope.functional.icnr_`); ``init="project"`` replaces each output channel's
  phase kernels and biases by their mean, which is the least-squares projection of the
  layer's operator onto the tied ones (each phase-and-tap weight writes output positions of
  its own, so the operator's Frobenius norm is the weights'). The model's structure and state
  dict keys stay as they are.
* ``"resize_conv"`` (Odena et al. 2016): the convolution becomes a ``ResizeConvNd`` to C
  channels and the shuffle ``nn.Identity``; ``init="project"`` fits the resize-conv's kernel to
  the pair's interior operator by least squares (:mod:`~checkerscope.conversion.projection`)
  and gives it the mean of the phase biases. The convolution must keep the size (stride 1,
  'same' padding) and have ``groups=1``.

The relative operator residual ``||A_new - A_old|| / ||A_old||`` is reported for each.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from checkerscope.conversion.projection import (
    impulse,
    least_squares,
    load_pairs,
    new_pairs,
    operator_bases,
    relative_residual,
    resize_conv_responses,
)
from checkerscope.conversion.subpixel_pairs import SubPixelPair, pixel_shuffle_reference
from checkerscope.functional.subpixel import icnr_, icnr_weight
from checkerscope.nn.resize_conv import ResizeConv1d, ResizeConv2d, ResizeConv3d

SUBPIXEL_FIXES = ("icnr", "resize_conv")
"""What ``convert(subpixel=...)`` accepts (``None`` leaves sub-pixel pairs alone)."""

_RESIZE_CONV = {1: ResizeConv1d, 2: ResizeConv2d, 3: ResizeConv3d}
_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def _where(pair: SubPixelPair) -> str:
    return f"sub-pixel pair {pair.conv_name or '<root>'!r} -> {pair.shuffle_name!r}"


def check_fixable(pair: SubPixelPair, fix: str) -> None:
    """Raise a ValueError naming the pair and the attribute that ``fix`` cannot handle.

    Example:
        >>> pair = SubPixelPair("up", nn.Conv2d(4, 16, 3), "shuffle", nn.PixelShuffle(2), 2, 2)
        >>> check_fixable(pair, "icnr")  # any padding: ICNR keeps the layer
        >>> check_fixable(pair, "resize_conv")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ValueError: cannot fix sub-pixel pair 'up' -> 'shuffle' by a resize-convolution: ...
    """
    conv, phases = pair.conv, pair.scale_factor**pair.dims
    if isinstance(conv.weight, nn.parameter.UninitializedParameter):
        raise ValueError(
            f"cannot fix {_where(pair)}: its parameters are uninitialized (a lazy module); run "
            f"one forward pass before converting"
        )
    if fix == "icnr" and (conv.out_channels // conv.groups) % phases:
        raise ValueError(
            f"cannot fix {_where(pair)} by ICNR: groups={conv.groups} splits the {phases} phases "
            f"of an output channel between groups"
        )
    if fix == "resize_conv":
        if conv.groups != 1:
            raise ValueError(
                f"cannot fix {_where(pair)} by a resize-convolution: groups={conv.groups}; "
                f"ResizeConv supports groups=1 only (subpixel='icnr' keeps the groups)"
            )
        if conv.padding != "same" and any(
            2 * p != d * (k - 1)
            for k, p, d in zip(conv.kernel_size, conv.padding, conv.dilation, strict=True)
        ):
            raise ValueError(
                f"cannot fix {_where(pair)} by a resize-convolution: its convolution "
                f"(kernel_size={conv.kernel_size}, padding={conv.padding}, "
                f"dilation={conv.dilation}) changes the size, which a resize-convolution keeps "
                f"(subpixel='icnr' keeps the layer)"
            )


def _phase_rows(pair: SubPixelPair) -> torch.Tensor:
    """The convolution's weight (C s^d, C_in, *k) as (C_in * C, s^d * K) float64 rows: one row
    per channel pair, phase-major then tap, the order of :func:`_subpixel_bases`."""
    w = pair.conv.weight.detach().to("cpu", torch.float64)
    c_out = w.shape[0] // pair.scale_factor**pair.dims
    w = w.reshape(c_out, pair.scale_factor**pair.dims, w.shape[1], -1).permute(2, 0, 1, 3)
    return w.flatten(0, 1).flatten(1)


def _write_weight(conv: nn.Module, weight: torch.Tensor) -> None:
    """Set a convolution's (effective) weight; under a parametrization (weight or spectral
    norm) through its ``right_inverse``, which a copy into the computed tensor would miss."""
    with torch.no_grad():
        if parametrize.is_parametrized(conv, "weight"):
            conv.weight = weight
        else:
            conv.weight.copy_(weight)


def apply_icnr(pair: SubPixelPair, init: str) -> float:
    """Tie the phases of ``pair``'s convolution by ICNR (fresh or projected, see the module
    docstring), in place; return the relative operator residual of the change.

    Example:
        >>> conv = nn.Conv2d(4, 3 * 4, 3, padding=1)
        >>> pair = SubPixelPair("0", conv, "1", nn.PixelShuffle(2), 2, 2)
        >>> 0 < apply_icnr(pair, "project") < 1, bool((conv.weight[0] == conv.weight[3]).all())
        (True, True)
    """
    conv, s, phases = pair.conv, pair.scale_factor, pair.scale_factor**pair.dims
    old = conv.weight.detach().clone()
    bias = None if conv.bias is None else conv.bias.detach().clone()
    if init == "fresh":
        new = torch.empty_like(old)
        icnr_(new, s, bias)
    else:
        new = icnr_weight(old.unflatten(0, (-1, phases)).mean(1), s)
        if bias is not None:
            bias = bias.unflatten(0, (-1, phases)).mean(1).repeat_interleave(phases)
    _write_weight(conv, new)
    if bias is not None:
        with torch.no_grad():
            conv.bias.copy_(bias)
    norm = float(old.double().norm())
    return float((conv.weight.detach() - old).double().norm()) / norm if norm else 0.0


def resize_conv_for(
    pair: SubPixelPair, mode: str, kernel_size: tuple[int, ...], padding_mode: str
) -> nn.Module:
    """A fresh ``ResizeConvNd`` for ``pair`` (channels, scale, bias, device and dtype as the
    pair's), in the convolution's training mode.

    Example:
        >>> pair = SubPixelPair("0", nn.Conv1d(2, 9, 3, padding=1), "1", nn.Identity(), 3, 1)
        >>> resize_conv_for(pair, "nearest", (3,), "reflect")(torch.randn(1, 2, 5)).shape
        torch.Size([1, 3, 15])
    """
    conv = pair.conv
    new = _RESIZE_CONV[pair.dims](
        conv.in_channels,
        conv.out_channels // pair.scale_factor**pair.dims,
        kernel_size=kernel_size,
        scale_factor=pair.scale_factor,
        mode=mode,
        padding_mode=padding_mode,
        bias=conv.bias is not None,
        device=conv.weight.device,
        dtype=conv.weight.dtype,
    )
    for p_old, p_new in zip(conv.parameters(), new.parameters(), strict=True):
        p_new.requires_grad_(p_old.requires_grad)
    return new.train(conv.training)


def _subpixel_bases(pair: SubPixelPair, replacement: nn.Module) -> tuple[torch.Tensor, ...]:
    """:func:`~checkerscope.conversion.projection.operator_bases` of a pair and a resize-conv:
    row ``phase * K + j`` of T is the pair's response with a unit tap j in that phase."""
    conv, s, dims = pair.conv, pair.scale_factor, pair.dims
    k = tuple(conv.kernel_size)
    reach = s * max(d * (n - 1) + 1 for n, d in zip(k, conv.dilation, strict=True))
    delta = impulse(dims, reach + max(replacement.kernel_size) + s, s)
    n_taps, phases = math.prod(k), s**dims
    eye = torch.eye(n_taps, dtype=torch.float64).reshape(n_taps, 1, *k)
    low = _CONV[dims](delta, eye, padding=conv.padding, dilation=conv.dilation)  # (1, K, *S)
    rows = []
    for phase in range(phases):
        placed = low.new_zeros(n_taps, phases, *low.shape[2:])
        placed[:, phase] = low[0]
        rows.append(pixel_shuffle_reference(placed, s))  # (K, 1, *(s S))
    t = torch.cat(rows)
    return operator_bases(t, resize_conv_responses(replacement, delta), "sub-pixel pair")


def project_subpixel(pair: SubPixelPair, replacement: nn.Module) -> float:
    """Fit ``replacement`` (a resize-conv for ``pair``) to the pair's interior operator by least
    squares, give it the mean phase bias, and return the relative residual; with
    ``init="fresh"`` use :func:`subpixel_residual` to measure a fresh one instead.

    Example:
        >>> import checkerscope
        >>> conv = nn.Conv1d(2, 3 * 2, 3, padding=1)
        >>> pair = SubPixelPair("0", conv, "1", nn.Identity(), 2, 1)
        >>> new = checkerscope.nn.ResizeConv1d(2, 3, kernel_size=5, padding_mode="zeros")
        >>> 0 < project_subpixel(pair, new) <= subpixel_residual(pair, new) < 2
        True
    """
    t, b = _subpixel_bases(pair, replacement)
    w_old = _phase_rows(pair)
    bias = pair.conv.bias
    if bias is not None:
        bias = bias.detach().unflatten(0, (-1, pair.scale_factor**pair.dims)).mean(1)
    load_pairs(replacement, least_squares(w_old, t, b), bias)
    return relative_residual(w_old, new_pairs(replacement), t, b)


def subpixel_residual(pair: SubPixelPair, replacement: nn.Module) -> float:
    """Relative distance between the interior operators of ``pair`` and of ``replacement``
    (a resize-conv for it), as :func:`project_subpixel` returns it for the fitted one.

    Example:
        >>> pair = SubPixelPair("0", nn.Conv1d(2, 4, 3, padding=1), "1", nn.Identity(), 2, 1)
        >>> new = resize_conv_for(pair, "nearest", (3,), "zeros")
        >>> subpixel_residual(pair, new) > project_subpixel(pair, new)
        True
    """
    return relative_residual(
        _phase_rows(pair), new_pairs(replacement), *_subpixel_bases(pair, replacement)
    )
