"""Weight-normalised 1-D convolutions (Salimans & Kingma 2016) that an audit can re-initialize.

MelGAN and HiFi-GAN wrap every convolution in weight normalisation, ``w = g * v / ||v||``.
With ``torch.nn.utils.parametrizations.weight_norm`` a layer's own ``reset_parameters()`` draws
into the recomputed ``weight``, a temporary, and leaves ``g`` and ``v`` as they were, so a
model re-initialized for each seed (as :func:`checkerscope.audit` does) would keep its first
weights. These subclasses draw a fresh ``nn.ConvNd`` weight and assign it through the
parametrization, which sets ``v`` to it and ``g`` to its norm: the layer then computes
exactly the freshly drawn weight, as weight normalisation does at initialization.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import weight_norm


class _RedrawWeightNorm:
    """``reset_parameters`` for a weight-normalised ``nn.ConvNd`` subclass (see the module)."""

    weight: torch.Tensor

    def reset_parameters(self) -> None:
        super().reset_parameters()  # type: ignore[misc]  # the bias, and an unnormalised weight
        if parametrize.is_parametrized(self, "weight"):  # type: ignore[arg-type]
            fresh = torch.empty_like(self.weight)
            nn.init.kaiming_uniform_(fresh, a=math.sqrt(5))  # nn.ConvNd's own weight init
            with torch.no_grad():
                self.weight = fresh


class WeightNormConv1d(_RedrawWeightNorm, nn.Conv1d):
    """``nn.Conv1d`` under weight normalisation (``g`` per output channel), re-initializable.

    Same arguments and shapes as ``nn.Conv1d``; ``weight`` is the effective ``g * v / ||v||``.

    Example:
        >>> conv = WeightNormConv1d(4, 8, 3, padding=1)
        >>> conv(torch.randn(2, 4, 16)).shape
        torch.Size([2, 8, 16])
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        weight_norm(self)


class WeightNormConvTranspose1d(_RedrawWeightNorm, nn.ConvTranspose1d):
    """``nn.ConvTranspose1d`` under weight normalisation (``g`` per input channel, torch's
    ``dim=0``), re-initializable. Same arguments and shapes as ``nn.ConvTranspose1d``.

    Example:
        >>> up = WeightNormConvTranspose1d(8, 4, 16, stride=8, padding=4)
        >>> up(torch.randn(2, 8, 10)).shape
        torch.Size([2, 4, 80])
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        weight_norm(self)


def conv1d(weight_normed: bool, *args: object, **kwargs: object) -> nn.Conv1d:
    """A ``Conv1d``, weight-normalised or plain: at initialization the two compute the same
    function (``g = ||v||``), so a plain one audits the same model at random init.

    Example:
        >>> isinstance(conv1d(True, 1, 2, 3), WeightNormConv1d)
        True
        >>> type(conv1d(False, 1, 2, 3)).__name__
        'Conv1d'
    """
    return (WeightNormConv1d if weight_normed else nn.Conv1d)(*args, **kwargs)  # type: ignore[arg-type]


def conv_transpose1d(weight_normed: bool, *args: object, **kwargs: object) -> nn.ConvTranspose1d:
    """A ``ConvTranspose1d``, weight-normalised or plain (see :func:`conv1d`).

    Example:
        >>> conv_transpose1d(False, 4, 2, 4, stride=2, padding=1)(torch.randn(1, 4, 8)).shape
        torch.Size([1, 2, 16])
    """
    cls = WeightNormConvTranspose1d if weight_normed else nn.ConvTranspose1d
    return cls(*args, **kwargs)  # type: ignore[arg-type]
