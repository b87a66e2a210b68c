"""One colour per variant (upsampler, downsampler, method), the same in every figure, and the
ink that keeps a number readable on any colour of a colour map."""

from __future__ import annotations

from collections.abc import Sequence

COLORS = {
    # upsamplers
    "deconv": "tab:red",
    "deconv_k4": "tab:red",
    "deconv_k3": "darkred",
    "subpixel": "tab:orange",
    "subpixel_icnr": "tab:green",
    "resize_conv": "tab:blue",
    "deconv_tv": "tab:pink",  # deconv trained with a total-variation term
    "bilinear_resize_conv": "tab:purple",
    # downsamplers
    "strided_k3": "darkred",
    "strided_k4": "tab:red",
    "antialiased": "tab:blue",
    "avgpool": "tab:green",
    # references
    "data": "black",
}
"""Variant name -> matplotlib colour; figures fall back to the colour cycle for other names."""


def ink(background: Sequence[float]) -> str:
    """Black or white, whichever reads better on an RGB(A) ``background`` in [0, 1].

    Uses the relative luminance of sRGB (WCAG 2): numbers printed on the dark end of a colour
    map turn white instead of vanishing.

    Example:
        >>> ink((1.0, 1.0, 0.9)), ink((0.4, 0.0, 0.05, 1.0))
        ('black', 'white')
    """

    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(float(c)) for c in background[:3])
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    # Contrast against black (L + 0.05) / 0.05 vs against white 1.05 / (L + 0.05).
    return "black" if (luminance + 0.05) ** 2 > 0.05 * 1.05 else "white"
