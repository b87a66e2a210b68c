"""One colour per variant (upsampler, downsampler, method), the same in every figure."""

from __future__ import annotations

COLORS = {
    # upsamplers
    "deconv": "tab:red",
    "deconv_k4": "tab:red",
    "deconv_k3": "darkred",
    "subpixel": "tab:orange",
    "subpixel_icnr": "tab:green",
    "resize_conv": "tab:blue",
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
