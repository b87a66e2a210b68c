"""Model conversion: every ``ConvTranspose1d/2d/3d`` of a model becomes a resize-convolution.

- :mod:`~checkerscope.conversion.replace`: :func:`convert`, which builds the replacements and
  swaps them in;
- :mod:`~checkerscope.conversion.adapter`: :class:`ResizeConvAdapter`, the window that keeps
  each output shape and alignment;
- :mod:`~checkerscope.conversion.projection`: the least-squares projection of trained weights
  and :func:`projection_residual`;
- :mod:`~checkerscope.conversion.report`: :class:`ConversionReport`, what was converted.
"""

from checkerscope.conversion.adapter import ResizeConvAdapter
from checkerscope.conversion.projection import projection_residual
from checkerscope.conversion.replace import INITS, convert
from checkerscope.conversion.report import ConversionReport, ConvertedLayer

__all__ = [
    "INITS",
    "ConversionReport",
    "ConvertedLayer",
    "ResizeConvAdapter",
    "convert",
    "projection_residual",
]
