"""Pure functions on tensors: the maths behind :mod:`checkerscope.nn`."""

from checkerscope.functional.resize_conv import resize_conv_reference

__all__ = ["resize_conv_reference"]
