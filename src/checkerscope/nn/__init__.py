"""Layers that upsample and downsample without making checkerboards."""

from checkerscope.nn.resize_conv import ResizeConv1d, ResizeConv2d, ResizeConv3d

__all__ = ["ResizeConv1d", "ResizeConv2d", "ResizeConv3d"]
