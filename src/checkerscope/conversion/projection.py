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

from checkerscope.conversion.adapter import crop_window, pad_for_window, resize_conv_and_window
from checkerscope.functional import resize_conv as R

_CONV_TRANSPOSE = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def _impulse_bases(deconv: nn.Module, replacement: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """Interior impulse responses, in float64, of both single-channel operators.

    Returns ``(T, B)``: row j of ``T`` (K_old, P) is the deconvolution's response to one
    interior input pixel with a unit kernel at tap j; row j of ``B`` (K_new, P) is the
    replacement's with a unit kernel at tap j, on the same P output positions. Every channel
    pair (o, i) of a layer is the same linear function of its taps, so these two matrices
    describe the whole interior operator: one column of the operator matrix per input pixel.
    """
    resize, offset, extra = resize_conv_and_window(replacement)
    dims, s = resize.dims, resize.scale_factor
    k_old, k_new = tuple(deconv.kernel_size), resize.kernel_size
    if deconv.stride != (s,) * dims:
        raise ValueError(
            f"replacement scale_factor={s} does not match the deconvolution's "
            f"stride={deconv.stride}"
        )
    reach = max(k_old) * max(deconv.dilation) + max(k_new) + s
    reach += max(abs(a) for a in offset) + max(abs(c) for c in extra)
    half = reach // s + 2  # keeps the response clear of every border
    size = 2 * half + 1
    f64 = {"dtype": torch.float64}
    delta = torch.zeros(1, 1, *(size,) * dims, **f64)
    delta[(0, 0, *(half,) * dims)] = 1.0

    n_old = math.prod(k_old)
    eye_old = torch.eye(n_old, **f64).reshape(1, n_old, *k_old)
    t = _CONV_TRANSPOSE[dims](
        delta,
        eye_old,
        stride=deconv.stride,
        padding=deconv.padding,
        output_padding=deconv.output_padding,
        dilation=deconv.dilation,
    )
    n_new = math.prod(k_new)
    eye_new = torch.eye(n_new, **f64).reshape(n_new, 1, *k_new)
    padded = pad_for_window(delta, s, offset, extra)
    b = R.resize_conv_reference(padded, eye_new, None, s, resize.mode, resize.padding_mode)
    b = crop_window(b, delta, s, offset, extra)
    if t.shape[2:] != b.shape[2:]:
        raise ValueError(
            f"replacement output shape {tuple(b.shape[2:])} differs from the deconvolution's "
            f"{tuple(t.shape[2:])} on a {size}-pixel input"
        )
    t, b = t.reshape(n_old, -1), b.reshape(n_new, -1)
    support = (t != 0).any(0) | (b != 0).any(0)  # the other positions add nothing to any norm
    return t[:, support], b[:, support]


def _pairs(deconv_weight: torch.Tensor) -> torch.Tensor:
    """ConvTranspose weight (C_in, C_out, *k) as (C_in * C_out, K) float64 rows."""
    weight = deconv_weight.detach().to("cpu", torch.float64)
    return weight.reshape(*weight.shape[:2], -1).flatten(0, 1)


def _relative_residual(
    w_old: torch.Tensor, w_new: torch.Tensor, t: torch.Tensor, b: torch.Tensor
) -> float:
    """``||w_old T - w_new B||_F / ||w_old T||_F`` without forming the (pairs, P) products.

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
        >>> d = torch.nn.ConvTranspose2d(4, 2, 4, 2, 1)
        >>> 0 < projection_residual(d, checkerscope.nn.ResizeConv2d(4, 2)) < 2
        True
    """
    return _relative_residual(
        _pairs(deconv.weight), _new_pairs(replacement), *_impulse_bases(deconv, replacement)
    )


def _new_pairs(replacement: nn.Module) -> torch.Tensor:
    """ResizeConv weight (C_out, C_in, *k) as (C_in * C_out, K) float64 rows, in the
    (input, output) order of :func:`_pairs`."""
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
    resize = resize_conv_and_window(replacement)[0]
    t, b = _impulse_bases(deconv, replacement)
    to_new = torch.linalg.lstsq(b.T, t.T).solution.T  # (K_old, K_new)
    w_old = _pairs(deconv.weight)
    w_new = w_old @ to_new
    c_in, c_out = deconv.in_channels, deconv.out_channels
    kernel = w_new.reshape(c_in, c_out, *resize.kernel_size).transpose(0, 1)
    with torch.no_grad():
        resize.weight.copy_(kernel)
        if resize.bias is not None:
            resize.bias.copy_(deconv.bias)
    return _relative_residual(w_old, _new_pairs(replacement), t, b)
