"""Phase measures: how much paint (or gradient) each pixel phase gets.

The article's checkerboard (Odena, Dumoulin & Olah 2016) is a difference between *phases*: at
period ``p``, phase (a, b) holds the pixels (i, j) with ``i % p == a`` and ``j % p == b``.
Uneven overlap paints some phases more than others; a nearest x``p`` upsampling gives every
phase the same mean exactly. Every measure here starts from :func:`phase_means`.
"""

from __future__ import annotations

import torch

from checkerscope import checks as v


def phase_means(x: torch.Tensor, period: int, margin: int = 0) -> torch.Tensor:
    """Mean of each image over the pixels of each phase: (B, C, H, W) -> (B, C, period, period).

    Phases are counted after dropping ``margin`` pixels at every border (padding effects) and
    the rows and columns beyond a whole number of periods.

    Example:
        >>> x = torch.zeros(1, 1, 8, 8)
        >>> x[..., ::2, ::2] = 4.0
        >>> phase_means(x, 2)[0, 0]
        tensor([[4., 0.],
                [0., 0.]])
    """
    v.positive_int("period", period)
    v.nonnegative_int("margin", margin)
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"x must be a tensor of shape (B, C, H, W), got {shape}")
    if margin:
        x = x[..., margin:-margin, margin:-margin]
    b, c, h, w = x.shape
    h, w = h // period * period, w // period * period
    if h == 0 or w == 0:
        raise ValueError(f"x of shape {tuple(x.shape)} holds no whole period {period}")
    blocks = x[..., :h, :w].reshape(b, c, h // period, period, w // period, period)
    return blocks.mean(dim=(2, 4))


def checkerboard_amplitude(x: torch.Tensor, period: int, margin: int = 0) -> torch.Tensor:
    """RMS spread of the phase means of each image: (B, C, H, W) -> (B,), in pixel units.

    ``sqrt(mean over channels and phases of (phase mean - its average over phases)**2)``:
    0 when every phase gets the same paint, ``delta * sqrt(3/16)`` when one phase of four at
    period 2 gets ``delta`` more. ``margin`` pixels are dropped at every border.

    Example:
        >>> x = torch.full((1, 3, 8, 8), 0.5)
        >>> x[..., ::2, ::2] += 0.4
        >>> round(float(checkerboard_amplitude(x, 2)), 4)  # 0.4 * sqrt(3 / 16)
        0.1732
    """
    m = phase_means(x, period, margin)
    return (m - m.mean(dim=(2, 3), keepdim=True)).pow(2).mean(dim=(1, 2, 3)).sqrt()


def phase_contrast(x: torch.Tensor, period: int = 2, margin: int = 0) -> torch.Tensor:
    """How unequal the phase means are, against what unpatterned content gives: (B,).

    :func:`checkerboard_amplitude` divided by the standard error of a phase mean (the image's
    standard deviation over the square root of the pixels per phase), so white noise scores
    about ``sqrt(1 - 1/period**2)`` and a periodic pattern grows with the image area. Exactly 0
    for a nearest-upsampled image. ``x``: (B, C, H, W).

    Example:
        >>> x = torch.randn(2, 3, 32, 32)
        >>> bool((phase_contrast(x) < 3).all())
        True
    """
    spread = checkerboard_amplitude(x, period, margin)
    inner = x[..., margin : x.shape[-2] - margin, margin : x.shape[-1] - margin]
    per_phase = (inner.shape[-2] // period) * (inner.shape[-1] // period)
    std = inner.flatten(1).std(dim=1).clamp_min(torch.finfo(x.dtype).tiny)
    return spread / (std / per_phase**0.5)


def phase_ratio(g: torch.Tensor, period: int, margin: int = 0) -> float:
    """Largest over smallest phase mean of the energy of ``g`` (B, C, H, W): 1 when even.

    The energy ``sum_c g_c**2`` is averaged over the batch first, so for input gradients
    (:func:`checkerscope.analysis.gradients.input_gradient`) this is the article's "the network
    will care much more about some pixels in the input than others", as one number.

    Example:
        >>> g = torch.ones(2, 1, 8, 8)
        >>> g[..., ::2, ::2] = 2.0  # one phase of four gets twice the gradient
        >>> phase_ratio(g, 2)
        4.0
    """
    energy = g.square().sum(dim=1, keepdim=True).mean(dim=0, keepdim=True)
    means = phase_means(energy, period, margin).flatten()
    return float(means.max() / means.min())
