"""Layers that upsample and downsample without making checkerboards."""

from checkerscope.nn.blurpool import AntiAliasedConv1d, AntiAliasedConv2d, BlurPool1d, BlurPool2d
from checkerscope.nn.factory import DOWNSAMPLERS, UPSAMPLERS, downsampler, upsampler
from checkerscope.nn.maxblurpool import MaxBlurPool1d, MaxBlurPool2d
from checkerscope.nn.resize_conv import ResizeConv1d, ResizeConv2d, ResizeConv3d, ResizeConvNd
from checkerscope.nn.subpixel import SubPixelConv1d, SubPixelConv2d, SubPixelConv3d, SubPixelConvNd

__all__ = [
    "DOWNSAMPLERS",
    "UPSAMPLERS",
    "AntiAliasedConv1d",
    "AntiAliasedConv2d",
    "BlurPool1d",
    "BlurPool2d",
    "MaxBlurPool1d",
    "MaxBlurPool2d",
    "ResizeConv1d",
    "ResizeConv2d",
    "ResizeConv3d",
    "ResizeConvNd",
    "SubPixelConv1d",
    "SubPixelConv2d",
    "SubPixelConv3d",
    "SubPixelConvNd",
    "downsampler",
    "upsampler",
]
