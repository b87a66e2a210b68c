"""Power spectra of images without the border cross: the periodic-plus-smooth decomposition.

The discrete Fourier transform treats an image as one tile of a periodic mosaic, so the jump
between its left and right (top and bottom) edges puts a bright cross of energy on the two
frequency axes. That cross sits exactly where the horizontal and vertical checkerboard
frequencies live, so every spectrum here is taken of the *periodic component* of Moisan (2011),
"Periodic plus smooth image decomposition", J. Math. Imaging Vis. 39:161-179: ``u = p + s`` with
``s`` smooth (it carries the edge jumps and nothing else) and ``p`` free of the cross.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import torch


def as_image_batch(name: str, x: torch.Tensor, floating: bool = True) -> torch.Tensor:
    """Return ``x`` as a (B, C, H, W) tensor; accept (C, H, W) as one image.

    With ``floating`` anything but float32/float64 becomes float32; without it, integer
    images stay as they are (callers convert them piece by piece, to bound memory).
    """
    return as_batch(name, x, 2, floating)


def as_batch(name: str, x: torch.Tensor, dims: int, floating: bool = True) -> torch.Tensor:
    """Return ``x`` as (B, C, *S) with ``dims`` spatial axes; accept (C, *S) as one item.

    The shared check of :func:`as_image_batch` (``dims=2``) and of the 1-D score (``dims=1``).
    """
    axes = ", ".join("L" if dims == 1 else "HW"[-dims:])
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() == dims + 1:
        x = x.unsqueeze(0)
    if x.dim() != dims + 2:
        raise ValueError(
            f"{name} must have shape (B, C, {axes}) or (C, {axes}), got a tensor of shape "
            f"{tuple(x.shape)}"
        )
    if min(x.shape) < 1:
        raise ValueError(f"{name} must not be empty, got a tensor of shape {tuple(x.shape)}")
    if x.is_complex():
        raise ValueError(f"{name} must be real, got dtype {x.dtype}")
    if x.dtype == torch.bool or (floating and x.dtype not in (torch.float32, torch.float64)):
        x = x.float()
    return x


@functools.lru_cache(maxsize=32)
def smooth_factors(
    h: int, w: int, dtype: torch.dtype, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Complex factors ``a``, ``b`` (H, W//2+1) giving the smooth component's rfft2 from edges.

    Moisan's boundary image ``v`` is non-zero only on the four edges (the jump across each edge
    of the periodic mosaic), so its transform is ``(1 - e^{2 pi i ky/H}) * rfft(last row - first
    row) + (1 - e^{2 pi i kx/W}) * fft(last column - first column)``; dividing by the symbol of
    the periodic 5-point Laplacian gives ``s_hat = a * rows_hat + b * cols_hat`` (0 at DC).
    """
    real = torch.float64 if dtype == torch.float64 else torch.float32
    ky = torch.arange(h, device=device, dtype=real)
    kx = torch.arange(w // 2 + 1, device=device, dtype=real)
    d = 2 * torch.cos(2 * math.pi * ky / h)[:, None] + 2 * torch.cos(2 * math.pi * kx / w) - 4
    d[0, 0] = 1.0  # the smooth part has zero mean: its DC term is zeroed below
    ey = 1 - torch.polar(torch.ones_like(ky), 2 * math.pi * ky / h)
    ex = 1 - torch.polar(torch.ones_like(kx), 2 * math.pi * kx / w)
    a, b = ey[:, None] / d, ex[None, :] / d
    a[0, 0], b[0, 0] = 0, 0
    return a, b


def edge_jumps(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``rfft`` of (last row - first row) (..., W//2+1) and ``fft`` of the columns' (..., H)."""
    return torch.fft.rfft(x[..., -1, :] - x[..., 0, :]), torch.fft.fft(x[..., :, -1] - x[..., :, 0])


def periodic_rfft2(x: torch.Tensor) -> torch.Tensor:
    """``torch.fft.rfft2`` of the periodic component of ``x`` (..., H, W), without forming it.

    Costs one 2-D FFT, like the plain spectrum, plus two 1-D ones of the edges.
    """
    a, b = smooth_factors(*x.shape[-2:], x.dtype, x.device)
    rows, cols = edge_jumps(x)
    return torch.fft.rfft2(x) - (a * rows[..., None, :] + b * cols[..., :, None])


def periodic_smooth(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Split images (..., H, W) into periodic and smooth parts, ``x = p + s`` (Moisan 2011).

    ``s`` solves the periodic Poisson equation ``laplacian(s) = v`` with zero mean, where ``v``
    holds the jumps across the image edges; ``p`` then tiles the plane without edge jumps.

    Example:
        >>> x = torch.rand(3, 64, 80)
        >>> p, s = periodic_smooth(x)
        >>> torch.allclose(p + s, x)
        True
    """
    if not isinstance(x, torch.Tensor) or x.dim() < 2 or x.is_complex():
        raise ValueError(f"x must be a real tensor of shape (..., H, W), got {x!r:.80}")
    x = x if x.dtype in (torch.float32, torch.float64) else x.float()
    h, w = x.shape[-2:]
    v_img = torch.zeros_like(x)
    v_img[..., 0, :] += x[..., -1, :] - x[..., 0, :]
    v_img[..., -1, :] += x[..., 0, :] - x[..., -1, :]
    v_img[..., :, 0] += x[..., :, -1] - x[..., :, 0]
    v_img[..., :, -1] += x[..., :, 0] - x[..., :, -1]
    real = torch.float64 if x.dtype == torch.float64 else torch.float32
    ky = torch.arange(h, device=x.device, dtype=real)
    kx = torch.arange(w // 2 + 1, device=x.device, dtype=real)
    laplacian = 2 * torch.cos(2 * math.pi * ky / h)[:, None] + 2 * torch.cos(2 * math.pi * kx / w)
    laplacian = laplacian - 4
    laplacian[0, 0] = 1.0  # s has zero mean
    s_hat = torch.fft.rfft2(v_img) / laplacian
    s_hat[..., 0, 0] = 0
    s = torch.fft.irfft2(s_hat, s=(h, w))
    return x - s, s


def power_spectrum(x: torch.Tensor) -> torch.Tensor:
    """Power spectrum of images' periodic components, averaged over channels: (B, H, W).

    ``x``: (B, C, H, W) or (C, H, W). The power ``|fft2(p)|**2 / (H W)`` of the periodic
    component ``p`` (:func:`periodic_smooth`, so edge jumps leave no cross), normalized by the
    number of pixels so it does not depend on the image size, with DC at the centre
    (``fftshift``). :func:`spectrum` gives its log and radial profile.

    Example:
        >>> p = power_spectrum(torch.full((1, 3, 4, 4), 0.5))  # a flat image: DC alone
        >>> p.shape, float(p[0, 2, 2]), float(p.sum())
        (torch.Size([1, 4, 4]), 4.0, 4.0)
    """
    x = as_image_batch("x", x)
    h, w = x.shape[-2:]
    p, _ = periodic_smooth(x)
    power = torch.fft.fft2(p).abs().square().mean(dim=1) / (h * w)
    return torch.fft.fftshift(power, dim=(-2, -1))


def _centered_frequencies(
    h: int, w: int, dtype: torch.dtype = torch.float64, device: torch.device | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Frequencies (cycles per pixel) of the rows (H,) and columns (W,) of a centred spectrum."""
    fy = torch.fft.fftshift(torch.fft.fftfreq(h, device=device, dtype=dtype))
    fx = torch.fft.fftshift(torch.fft.fftfreq(w, device=device, dtype=dtype))
    return fy, fx


def hf_fraction(x: torch.Tensor, cutoff: float = 0.25, eps: float = 1e-12) -> torch.Tensor:
    """Fraction of each image's non-DC power above ``cutoff`` cycles per pixel: (B,).

    From :func:`power_spectrum` (the periodic component, channels averaged); the radius is
    ``hypot(fy, fx)``, so 0.25 is half the Nyquist frequency along each axis. DC (the mean
    colour) is left out of the total. Every bin gets ``eps`` more power, the floor
    :func:`spectrum` puts under its log, so a flat image (no power but DC) gets the share of
    bins above the cutoff instead of 0/0. ``x``: (B, C, H, W) or (C, H, W).

    Example:
        >>> stripes = torch.zeros(1, 1, 16, 16)
        >>> stripes[..., ::2, :] = 1.0  # period 2 along y: power at fy = 1/2 ...
        >>> ramp = torch.linspace(0, 1, 16).expand(1, 1, 16, 16)
        >>> # ... less the quarter that the periodic-plus-smooth split moves to low frequencies
        >>> round(float(hf_fraction(stripes)), 2), round(float(hf_fraction(ramp)), 2)
        (0.75, 0.1)
    """
    power = power_spectrum(x).double() + eps
    fy, fx = _centered_frequencies(*power.shape[-2:], device=power.device)
    radius = torch.hypot(fy[:, None], fx[None, :])
    return power[:, radius > cutoff].sum(1) / power[:, radius > 0].sum(1)


class Spectrum(NamedTuple):
    """Output of :func:`spectrum`.

    ``log_power`` (B, H, W): 10*log10 power in dB, averaged over channels, DC at the centre
    (``fftshift``); ``radial`` (B, R): its azimuthal average over rings of integer radius
    (in bins of the shorter side); ``frequency`` (R,): each ring's radius in cycles per pixel.
    """

    log_power: torch.Tensor
    radial: torch.Tensor
    frequency: torch.Tensor


def spectrum(x: torch.Tensor, eps: float = 1e-12) -> Spectrum:
    """Log power spectrum of images and its azimuthal average, as in Durall et al. (2020).

    ``x``: (B, C, H, W) or (C, H, W). The spectrum is that of the periodic component
    (:func:`periodic_smooth`), so edge jumps leave no cross; the radial profile is the 1-D
    spectrum of Durall, Keuper & Keuper (2020), "Watch your up-convolution", CVPR, where
    up-convolution artifacts show as a rising tail at high frequencies. The power is
    normalized by the number of pixels, so it does not depend on the image size.

    Example:
        >>> s = spectrum(torch.rand(2, 3, 64, 64))
        >>> s.log_power.shape, s.radial.shape, s.frequency.shape
        (torch.Size([2, 64, 64]), torch.Size([2, 33]), torch.Size([33]))
    """
    power = power_spectrum(x)
    h, w = power.shape[-2:]
    fy, fx = _centered_frequencies(h, w, power.dtype, power.device)
    n = min(h, w)
    radius = torch.round(torch.hypot(fy[:, None], fx[None, :]) * n).long().flatten()
    bins = n // 2 + 1
    keep = radius < bins
    flat = power.flatten(1)[:, keep]
    sums = torch.zeros(flat.shape[0], bins, dtype=power.dtype, device=power.device)
    sums.index_add_(1, radius[keep], flat)
    counts = torch.bincount(radius[keep], minlength=bins).to(power.dtype)
    radial = 10 * torch.log10(sums / counts + eps)
    frequency = torch.arange(bins, device=power.device, dtype=power.dtype) / n
    return Spectrum(10 * torch.log10(power + eps), radial, frequency)
