"""Pure functions on tensors: the maths behind :mod:`checkerscope.nn`."""

from checkerscope.functional.blurpool import binomial_taps, blur, blur_pool, box_taps
from checkerscope.functional.resize_conv import resize_conv_fused, resize_conv_reference
from checkerscope.functional.subpixel import (
    icnr_,
    icnr_weight,
    nearest_resize_conv_weight,
    subpixel_conv,
    subpixel_conv2d,
)

__all__ = [
    "binomial_taps",
    "blur",
    "blur_pool",
    "box_taps",
    "icnr_",
    "icnr_weight",
    "nearest_resize_conv_weight",
    "resize_conv_fused",
    "resize_conv_reference",
    "subpixel_conv",
    "subpixel_conv2d",
]
