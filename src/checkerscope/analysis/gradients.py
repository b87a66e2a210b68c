"""Input gradients: where a model looks, pixel by pixel.

Odena et al. (2016), "Artifacts in gradients": the backward pass of a strided convolution is a
transposed convolution, so a discriminator or classifier can hand its input a checkerboard
gradient. :func:`input_gradient` is the one way checkerscope takes that gradient; the score of it
is :func:`checkerscope.analysis.score.gradient_checkerboard`, its phase spread
:func:`checkerscope.analysis.phases.phase_ratio`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def input_gradient(
    model: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    output: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """Gradient of ``model``'s output, summed over the batch, with respect to ``x``: x's shape.

    ``output`` maps the model's output to one scalar per item (default: the sum over every
    axis but the batch axis), so each item's gradient is its own as long as the model treats
    items independently (BatchNorm in eval mode, say). The model's parameters get no gradient.
    ``x``: (B, ...), floating point.

    Example:
        >>> conv = torch.nn.Conv2d(1, 1, 3, stride=2, padding=1, bias=False)
        >>> _ = torch.nn.init.ones_(conv.weight)
        >>> g = input_gradient(conv, torch.rand(1, 1, 8, 8))
        >>> g[0, 0, 2:4, 2:4]  # windows covering each pixel: 1 or 2 per axis
        tensor([[1., 2.],
                [2., 4.]])
    """
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        what = f"dtype {x.dtype}" if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"x must be a floating-point tensor, got {what}")
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        y = model(x)
        # reshape, not flatten(1): a discriminator may return one logit per image, shape (B,)
        scalar = y.reshape(y.shape[0], -1).sum(dim=1) if output is None else output(y)
        (grad,) = torch.autograd.grad(scalar.sum(), x)
    return grad
