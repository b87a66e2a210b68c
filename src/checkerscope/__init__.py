"""checkerscope: find, explain and remove checkerboard artifacts in neural networks."""

from checkerscope import nn

__version__ = "0.1.0"

__all__ = ["__version__", "nn"]
