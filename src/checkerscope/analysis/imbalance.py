"""Phase imbalance: how unevenly a layer's actual weights answer a flat input, phase by phase.

Odena, Dumoulin & Olah (2016): uneven overlap makes checkerboards the default, but even-overlap
deconvolutions "often learn kernels that cause similar artifacts" too. What decides it is the
weights: with stride s, the output at phase r (position mod s, per axis) of a constant input
is the sum of the taps that land on phase r. Equal sums for every phase: a flat input stays
flat. For a strided convolution the same sums decide the gradient it sends back (its backward
pass is a transposed convolution), the article's gradient checkerboard.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from checkerscope.analysis import layers as L
from checkerscope.nn import SubPixelConvNd


@dataclass(frozen=True)
class PhaseImbalance:
    """The constant-input response of a layer per output phase, and one imbalance number.

    * ``stride``: the phases per axis.
    * ``pair_response`` (C_recv, C_send, *stride): the response of receiving channel a at each
      phase to a unit constant on sending channel b (no bias). For upsamplers the receiving
      channels are the outputs and the sending ones the inputs; for a strided convolution they
      are swapped: its inputs receive the gradient when every output gets gradient 1.
    * ``response`` (C_recv, *stride): ``pair_response`` summed over sending channels, the
      response to a constant 1 on every channel.
    * ``imbalance``: ``||R - mean_phase R|| / ||R||`` (Frobenius norms over channels and phases,
      R = ``response``): the fraction of a flat input's response that is a checkerboard. 0 when
      every phase gets the same sum (or R is 0), at most 1, unchanged by scaling the weights.
    """

    stride: tuple[int, ...]
    pair_response: torch.Tensor
    response: torch.Tensor
    imbalance: float


def _phase_sums(w: torch.Tensor, phases: list[list[int]], stride: tuple[int, ...]) -> torch.Tensor:
    """Sum taps of ``w`` (A, B, *K) by phase: tap j of axis a goes to phase ``phases[a][j]``."""
    out = w
    for axis, (tap_phase, s) in enumerate(zip(phases, stride, strict=True)):
        onehot = torch.zeros(len(tap_phase), s, dtype=w.dtype)
        onehot[torch.arange(len(tap_phase)), torch.tensor(tap_phase)] = 1.0
        out = torch.tensordot(out, onehot, dims=([2 + axis], [0])).movedim(-1, 2 + axis)
    return out


def _expand_groups(w: torch.Tensor, groups: int, receivers: int, senders: int) -> torch.Tensor:
    """Grouped weights (receivers, senders / groups, ...) -> (receivers, senders, ...), zeros
    between channels of different groups."""
    full = w.new_zeros(receivers, senders, *w.shape[2:])
    r, s = receivers // groups, senders // groups
    for g in range(groups):
        full[g * r : (g + 1) * r, g * s : (g + 1) * s] = w[g * r : (g + 1) * r]
    return full


def _conv_phases(m: nn.Module) -> list[list[int]]:
    # Tap j of a (transposed) conv with padding p touches position i*s + j*d - p: phase below.
    phases = []
    for axis, (k, s, d) in enumerate(zip(m.kernel_size, m.stride, m.dilation, strict=True)):
        if m.padding == "same":
            p = d * (k - 1) // 2
        elif m.padding == "valid":
            p = 0
        else:
            p = m.padding[axis]
        phases.append([(j * d - p) % s for j in range(k)])
    return phases


def _pair_response(layer: nn.Module) -> torch.Tensor:
    weighted = layer.conv if isinstance(layer, SubPixelConvNd) else layer
    w = getattr(weighted, "weight", None)
    w = w.detach().to(torch.float64) if isinstance(w, torch.Tensor) else None
    if L.is_transposed_conv(layer):
        # weight (C_in, C_out / groups, *K): the receivers are the outputs.
        g = layer.groups
        grouped = w.reshape(g, layer.in_channels // g, *w.shape[1:]).transpose(1, 2)
        grouped = grouped.reshape(layer.out_channels, layer.in_channels // g, *w.shape[2:])
        full = _expand_groups(grouped, g, layer.out_channels, layer.in_channels)
        return _phase_sums(full, _conv_phases(layer), tuple(layer.stride))
    if L.is_conv(layer):
        # weight (C_out, C_in / groups, *K); the backward pass sends gradient to the inputs.
        full = _expand_groups(w, layer.groups, layer.out_channels, layer.in_channels)
        return _phase_sums(full.transpose(0, 1), _conv_phases(layer), tuple(layer.stride))
    if isinstance(layer, L.RESIZE_CONVS):
        # Nearest and linear resizes keep a constant constant, so every tap sees it: each
        # phase gets the sum of all taps.
        total = w.sum(dim=tuple(range(2, w.dim())))
        stride = (layer.scale_factor,) * layer.dims
        return total.reshape(*total.shape, *(1,) * layer.dims).expand(*total.shape, *stride)
    if isinstance(layer, SubPixelConvNd):
        # Sub-kernel c*s^d + (i*s + j)... writes phase (i, j, ...) of output channel c.
        s, d = layer.scale_factor, layer.dims
        sums = w.sum(dim=tuple(range(2, w.dim())))  # (C_out * s^d, C_in)
        pairs = sums.reshape(layer.out_channels, *(s,) * d, layer.in_channels).movedim(-1, 1)
        if layer.blur:
            # The s^d box after the shuffle averages one full period: every phase gets the mean.
            axes = tuple(range(2, 2 + d))
            pairs = pairs.mean(dim=axes, keepdim=True).expand_as(pairs)
        return pairs
    raise ValueError(
        f"phase_imbalance reads ConvTranspose1d/2d/3d, Conv1d/2d/3d, ResizeConv1d/2d/3d and "
        f"SubPixelConv1d/2d/3d, got {type(layer).__name__}"
    )


def phase_imbalance(layer: nn.Module) -> PhaseImbalance:
    """The response of ``layer`` to a constant input at each output phase, from its weights.

    Exact, from the weights as they are (random or trained); see :class:`PhaseImbalance` for
    the fields and the formula. ResizeConv gives 0 for any weights, SubPixelConv2d gives 0 at
    ICNR initialization, a random k3 s2 transposed convolution gives a clearly positive value.

    Example:
        >>> m = torch.nn.ConvTranspose1d(1, 1, 3, stride=2, bias=False)
        >>> with torch.no_grad():
        ...     _ = m.weight.copy_(torch.tensor([[[1.0, 1.0, 1.0]]]))
        >>> r = phase_imbalance(m)
        >>> r.response, round(r.imbalance, 4)
        (tensor([[2., 1.]], dtype=torch.float64), 0.3162)
    """
    if not isinstance(layer, nn.Module):
        raise ValueError(f"layer must be a torch.nn.Module, got {type(layer).__name__}")
    pairs = _pair_response(layer)
    stride = tuple(pairs.shape[2:])
    response = pairs.sum(1)
    total = float(torch.linalg.vector_norm(response))
    # sum_phase (R - mean)^2 == sum over phase pairs (R_a - R_b)^2 / (2 S): exactly 0 when the
    # phases are equal, where subtracting a rounded mean would leave a residue.
    flat = response.flatten(1)
    spread = (flat[:, :, None] - flat[:, None, :]).pow(2).sum() / (2 * flat.shape[1])
    ratio = math.sqrt(float(spread)) / total if total > 0 else 0.0
    return PhaseImbalance(stride, pairs, response, ratio)
