"""Model conversion: the layers of a model that make checkerboards become ones that do not.

- :mod:`~checkerscope.conversion.replace`: :func:`convert`, which builds the replacements and
  swaps them in;
- :mod:`~checkerscope.conversion.adapter`: :class:`ResizeConvAdapter`, the window that keeps
  each output shape and alignment;
- :mod:`~checkerscope.conversion.projection`: the least-squares projection of trained weights
  and :func:`projection_residual`;
- :mod:`~checkerscope.conversion.downsample`: anti-aliased downsampling surgery and
  :class:`BlurredAvgPool`;
- :mod:`~checkerscope.conversion.subpixel_pairs`: finding convolution -> pixel shuffle pairs
  (:func:`find_subpixel_pairs`); :mod:`~checkerscope.conversion.subpixel`: their fixes;
- :mod:`~checkerscope.conversion.distillation`: ``init="distill"``, training the new layers to
  reproduce the original without its checkerboard;
- :mod:`~checkerscope.conversion.report`: :class:`ConversionReport`, what was converted (and
  :class:`Distillation`, what distillation did).
"""

from checkerscope.conversion.adapter import ResizeConvAdapter
from checkerscope.conversion.downsample import BlurredAvgPool
from checkerscope.conversion.projection import projection_residual
from checkerscope.conversion.replace import INITS, convert
from checkerscope.conversion.report import ConversionReport, ConvertedLayer, Distillation
from checkerscope.conversion.subpixel import SUBPIXEL_FIXES
from checkerscope.conversion.subpixel_pairs import SubPixelPair, find_subpixel_pairs

__all__ = [
    "INITS",
    "SUBPIXEL_FIXES",
    "BlurredAvgPool",
    "ConversionReport",
    "ConvertedLayer",
    "Distillation",
    "ResizeConvAdapter",
    "SubPixelPair",
    "convert",
    "find_subpixel_pairs",
    "projection_residual",
]
