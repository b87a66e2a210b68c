"""Weight-normalised 1-D convolutions (Salimans & Kingma 2016), as MelGAN and HiFi-GAN use them.

Both wrap every convolution in weight normalisation, ``w = g * v / ||v||``, the references with
``torch.nn.utils.weight_norm``; here with its parametrization,
``torch.nn.utils.parametrizations.weight_norm`` (the same ``g`` and ``v``, under
``parametrizations.weight.original0`` and ``original1``). At initialization ``g = ||v||``, so
a weight-normalised layer computes the plain layer's function. A layer's own
``reset_parameters()`` cannot re-draw a parametrized weight; :func:`checkerscope.audit`
re-draws it (:mod:`checkerscope.auditing.reinitialization`).
"""

from __future__ import annotations

from torch import nn
from torch.nn.utils.parametrizations import weight_norm


def conv1d(weight_normed: bool, *args: object, **kwargs: object) -> nn.Conv1d:
    """A ``Conv1d`` (same arguments), weight-normalised (``g`` per output channel) or plain.

    Example:
        >>> from torch.nn.utils import parametrize
        >>> parametrize.is_parametrized(conv1d(True, 1, 2, 3), "weight")
        True
        >>> type(conv1d(False, 1, 2, 3)).__name__
        'Conv1d'
    """
    conv = nn.Conv1d(*args, **kwargs)  # type: ignore[arg-type]
    return weight_norm(conv) if weight_normed else conv


def conv_transpose1d(weight_normed: bool, *args: object, **kwargs: object) -> nn.ConvTranspose1d:
    """A ``ConvTranspose1d`` (same arguments), weight-normalised (``g`` per input channel,
    torch's ``dim=0``) or plain.

    Example:
        >>> import torch
        >>> conv_transpose1d(True, 4, 2, 4, stride=2, padding=1)(torch.randn(1, 4, 8)).shape
        torch.Size([1, 2, 16])
    """
    conv = nn.ConvTranspose1d(*args, **kwargs)  # type: ignore[arg-type]
    return weight_norm(conv) if weight_normed else conv
