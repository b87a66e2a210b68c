"""Carrying trained weights over: the least-squares projection of a transposed convolution's
operator onto a resize-convolution's, and the relative distance between the two.

Both layers are linear and, away from the borders, translation invariant, so each is described
by its response to one interior input pixel (one column of its operator matrix), for every
kernel tap. :func:`project_weights` fits the resize-conv's taps to the deconvolution's response
by least squares; :func:`projection_residual` measures what is left.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from checkerscope.conversion.adapter import resize_conv_and_window
from checkerscope.functional import resize_conv as R
from checkerscope.functional.window import crop_window, pad_for_window

_CONV_TRANSPOSE = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def impulse(dims: int, reach: int, s: int) -> torch.Tensor:
    """A float64 unit impulse (1, 1, *size) at the centre of a map wide enough that two layers
    of upsampling factor ``s`` and footprints within ``reach`` pixels respond to it clear of
    every border.

    Example:
        >>> impulse(1, reach=4, s=2).flatten().tolist()
        [0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0]
    """
    half = reach // s + 2
    delta = torch.zeros(1, 1, *(2 * half + 1,) * dims, dtype=torch.float64)
    delta[(0, 0, *(half,) * dims)] = 1.0
    return delta


def resize_conv_responses(replacement: nn.Module, delta: torch.Tensor) -> torch.Tensor:
    """Row j: the response of ``replacement`` (a ``ResizeConvNd`` or ``ResizeConvAdapter``,
    single channel, unit kernel at tap j, no bias) to ``delta``, by the reference path:
    (K_new, 1, *output_size).

    Example:
        >>> import checkerscope
        >>> rc = checkerscope.nn.ResizeConv1d(1, 1, kernel_size=3)
        >>> resize_conv_responses(rc, impulse(1, reach=4, s=2)).shape
        torch.Size([3, 1, 18])
    """
    resize, offset, extra = resize_conv_and_window(replacement)
    s, k_new = resize.scale_factor, resize.kernel_size
    n_new = math.prod(k_new)
    eye_new = torch.eye(n_new, dtype=torch.float64).reshape(n_new, 1, *k_new)
    padded = pad_for_window(delta, s, offset, extra)
    b = R.resize_conv_reference(padded, eye_new, None, s, resize.mode, resize.padding_mode)
    return crop_window(b, delta, s, offset, extra).transpose(0, 1)


def operator_bases(
    t: torch.Tensor, b: torch.Tensor, what: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(T, B)`` as (K_old, P) and (K_new, P) float64 matrices over the P output positions
    where either layer responds: row j of each is a layer's response, with a unit kernel at
    tap j, to one interior input pixel. Every channel pair of a layer is the same linear
    function of its taps, so the two matrices describe both interior operators.

    ``t`` (K_old, 1, *S) and ``b`` (K_new, 1, *S) are the responses on the same impulse;
    ``what`` names the old layer in the error raised when their shapes differ.

    Example:
        >>> t = torch.tensor([[[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]]])
        >>> [m.tolist() for m in operator_bases(t, torch.ones(1, 1, 3), "layer")]
        [[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], [[1.0, 1.0, 1.0]]]
    """
    if t.shape[2:] != b.shape[2:]:
        raise ValueError(
            f"replacement output shape {tuple(b.shape[2:])} differs from the {what}'s "
            f"{tuple(t.shape[2:])} on an impulse input"
        )
    t, b = t.reshape(t.shape[0], -1), b.reshape(b.shape[0], -1)
    support = (t != 0).any(0) | (b != 0).any(0)  # the other positions add nothing to any norm
    return t[:, support], b[:, support]


def _impulse_bases(deconv: nn.Module, replacement: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`operator_bases` of a deconvolution and its replacement."""
    resize, offset, extra = resize_conv_and_window(replacement)
    dims, s = resize.dims, resize.scale_factor
    k_old = tuple(deconv.kernel_size)
    if deconv.stride != (s,) * dims:
        raise ValueError(
            f"replacement scale_factor={s} does not match the deconvolution's "
            f"stride={deconv.stride}"
        )
    reach = max(k_old) * max(deconv.dilation) + max(resize.kernel_size) + s
    reach += max(abs(a) for a in offset) + max(abs(c) for c in extra)
    delta = impulse(dims, reach, s)
    n_old = math.prod(k_old)
    eye_old = torch.eye(n_old, dtype=torch.float64).reshape(1, n_old, *k_old)
    t = _CONV_TRANSPOSE[dims](
        delta,
        eye_old,
        stride=deconv.stride,
        padding=deconv.padding,
        output_padding=deconv.output_padding,
        dilation=deconv.dilation,
    )
    return operator_bases(
        t.transpose(0, 1), resize_conv_responses(replacement, delta), "deconvolution"
    )


def _pairs(deconv_weight: torch.Tensor) -> torch.Tensor:
    """ConvTranspose weight (C_in, C_out, *k) as (C_in * C_out, K) float64 rows."""
    weight = deconv_weight.detach().to("cpu", torch.float64)
    return weight.reshape(*weight.shape[:2], -1).flatten(0, 1)


def relative_residual(
    w_old: torch.Tensor, w_new: torch.Tensor, t: torch.Tensor, b: torch.Tensor
) -> float:
    """``||w_old T - w_new B||_F / ||w_old T||_F`` without forming the (pairs, P) products:
    the relative distance of two operators whose channel pairs have taps ``w_old`` (pairs,
    K_old) and ``w_new`` (pairs, K_new) on the bases of :func:`operator_bases`.

    With ``D = [T; -B] = U S V^T``, ``||[w_old, w_new] D||_F = ||[w_old, w_new] U S||_F``: a
    (pairs, K) product, and an exact fit gives a residual at rounding level, not its square
    root as ``sqrt(||a||^2 - ||b||^2)`` would.
    """
    u, sv, _ = torch.linalg.svd(torch.cat([t, -b]), full_matrices=False)
    num = torch.linalg.matrix_norm(torch.cat([w_old, w_new], dim=1) @ (u * sv))
    u_t, sv_t, _ = torch.linalg.svd(t, full_matrices=False)
    den = torch.linalg.matrix_norm(w_old @ (u_t * sv_t))
    if den == 0:  # an all-zero deconvolution: only an all-zero replacement matches it
        return 0.0 if num == 0 else math.inf
    return float(num / den)


def projection_residual(deconv: nn.Module, replacement: nn.Module) -> float:
    """Relative distance ``||A_new - A_old||_F / ||A_old||_F`` between two layers' operators.

    ``A`` is the interior (translation-invariant) part of each layer's linear operator, over
    all channel pairs: the response to one input pixel away from every border, which is one
    column of the operator matrix and, by translation invariance, all of them. Borders and
    biases are left out. ``replacement`` is a ``ResizeConvNd`` or :class:`ResizeConvAdapter`
    with the shape and stride of ``deconv`` (as :func:`convert` returns).

    Example:
        >>> import checkerscope
        >>> _ = torch.manual_seed(0)  # two random layers are 1.4 to 2.1 apart
        >>> d = torch.nn.ConvTranspose2d(4, 2, 4, 2, 1)
        >>> 0 < projection_residual(d, checkerscope.nn.ResizeConv2d(4, 2)) < 2
        True
    """
    return relative_residual(
        _pairs(deconv.weight), new_pairs(replacement), *_impulse_bases(deconv, replacement)
    )


def least_squares(w_old: torch.Tensor, t: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The taps (pairs, K_new) on basis ``b`` closest to ``w_old`` (pairs, K_old) on basis
    ``t`` (:func:`operator_bases`): per channel pair ``min_w ||w B - w_old T||``. The normal
    equations are one K_new x K_new system for every pair, so one solve gives a fixed linear
    map from old taps to new ones.

    Example:
        >>> t, b = torch.eye(2, dtype=torch.float64), torch.ones(1, 2, dtype=torch.float64)
        >>> round(least_squares(torch.tensor([[1.0, 3.0]], dtype=torch.float64), t, b).item(), 9)
        2.0
    """
    to_new = torch.linalg.lstsq(b.T, t.T).solution.T  # (K_old, K_new)
    return w_old @ to_new


def new_pairs(replacement: nn.Module) -> torch.Tensor:
    """The weight (C_out, C_in, *k) of a replacement's resize-conv as (C_in * C_out, K)
    float64 rows, in the (input, output) order of a ConvTranspose weight's channel pairs."""
    weight = resize_conv_and_window(replacement)[0].weight.detach().to("cpu", torch.float64)
    return weight.transpose(0, 1).flatten(0, 1).flatten(1)


def project_weights(deconv: nn.Module, replacement: nn.Module) -> float:
    """Set the replacement's weights to the least-squares fit of the deconvolution's interior
    operator (and copy its bias); return the relative residual of the result.

    Per channel pair the fit solves ``min_w ||w B - W T||`` over the K_new taps ``w``: the
    normal equations are the same K_new x K_new system for every pair, so one solve gives a
    fixed linear map from deconvolution kernels to resize-conv kernels. ``replacement`` is
    changed in place (see :func:`projection_residual` for what it may be).

    Example:
        >>> import checkerscope
        >>> d, r = torch.nn.ConvTranspose2d(4, 2, 4, 2, 1), checkerscope.nn.ResizeConv2d(4, 2)
        >>> project_weights(d, r) <= projection_residual(d, checkerscope.nn.ResizeConv2d(4, 2))
        True
    """
    t, b = _impulse_bases(deconv, replacement)
    w_old = _pairs(deconv.weight)
    load_pairs(replacement, least_squares(w_old, t, b), deconv.bias)
    return relative_residual(w_old, new_pairs(replacement), t, b)


def load_pairs(replacement: nn.Module, w_new: torch.Tensor, bias: torch.Tensor | None) -> None:
    """Set a replacement's resize-conv weight from rows ``w_new`` (C_in * C_out, K) in the order
    of :func:`new_pairs`, and its bias (if it has one) to ``bias``.

    Example:
        >>> import checkerscope
        >>> rc = checkerscope.nn.ResizeConv1d(2, 1, kernel_size=1)
        >>> load_pairs(rc, torch.tensor([[1.0], [2.0]]), torch.tensor([0.5]))
        >>> rc.weight.flatten().tolist(), rc.bias.tolist()
        ([1.0, 2.0], [0.5])
    """
    resize = resize_conv_and_window(replacement)[0]
    kernel = w_new.reshape(resize.in_channels, resize.out_channels, *resize.kernel_size)
    with torch.no_grad():
        resize.weight.copy_(kernel.transpose(0, 1))
        if resize.bias is not None and bias is not None:
            resize.bias.copy_(bias)
