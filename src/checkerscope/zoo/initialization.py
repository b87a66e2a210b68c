"""The initializations the reference implementations apply after construction, as functions a
model's ``reset_parameters()`` calls, so that every re-initialization (the audit's, per seed)
draws weights the way the reference does, not only the first one."""

from __future__ import annotations

import torch
from torch import nn

from checkerscope.analysis.layers import CONVS, RESIZE_CONVS, TRANSPOSED_CONVS

CONV_LIKE = (*CONVS, *TRANSPOSED_CONVS, *RESIZE_CONVS)
"""Layers that the references' ``classname.find('Conv')`` rules reach: convolutions of every
rank, transposed or not, and the resize-convolutions ``convert`` puts in their place."""


def reset_children(model: nn.Module) -> None:
    """Call ``reset_parameters()`` on every module below ``model``, children before parents.

    Example:
        >>> net = nn.Sequential(nn.Linear(2, 2))
        >>> before = net[0].weight.clone()
        >>> reset_children(net)
        >>> bool((net[0].weight != before).any())
        True
    """
    for m in reversed(list(model.modules())):
        reset = getattr(m, "reset_parameters", None)
        if m is not model and callable(reset):
            reset()


@torch.no_grad()
def normal_init(model: nn.Module, std: float = 0.02) -> None:
    """DCGAN's initialization, kept by pix2pix and CycleGAN (``init_type='normal'``, gain 0.02):
    convolution and linear weights from N(0, std), their biases 0, batch-norm scales from
    N(1, std) and shifts 0 (Radford et al. 2016; pytorch/examples ``dcgan/main.py``
    ``weights_init``; junyanz/pytorch-CycleGAN-and-pix2pix ``models/networks.py``
    ``init_weights``).

    Example:
        >>> net = nn.Sequential(nn.Conv2d(3, 64, 3), nn.BatchNorm2d(64))
        >>> normal_init(net)
        >>> round(float(net[0].weight.detach().std()), 2), float(net[0].bias.detach().abs().max())
        (0.02, 0.0)
    """
    for m in model.modules():
        if isinstance(m, (*CONV_LIKE, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d) and m.affine:
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)


@torch.no_grad()
def scaled_kaiming_init(layers: list[nn.Module], scale: float) -> None:
    """ESRGAN's residual-dense-block initialization: Kaiming-normal weights (fan in, gain
    sqrt(2)) times ``scale``, biases 0 (XPixelGroup/BasicSR ``basicsr/archs/arch_util.py``
    ``default_init_weights``, called with 0.1 on each block's five convolutions).

    Example:
        >>> conv = nn.Conv2d(64, 64, 3)
        >>> scaled_kaiming_init([conv], 0.1)
        >>> round(float(conv.weight.detach().std()) / (0.1 * (2 / 576) ** 0.5), 1)
        1.0
    """
    for m in layers:
        nn.init.kaiming_normal_(m.weight)
        m.weight.mul_(scale)
        if m.bias is not None:
            nn.init.zeros_(m.bias)


@torch.no_grad()
def rescale_init(model: nn.Module, reference: float) -> None:
    """Demucs' ``rescale`` initialization: every Conv1d and ConvTranspose1d (and
    resize-convolution) divides its weight and bias by ``sqrt(std(weight) / reference)``,
    bringing the weights' standard deviation to ``sqrt(std * reference)``
    (facebookresearch/demucs v2 ``demucs/model.py``, ``rescale_module``).

    Example:
        >>> conv = nn.Conv1d(1, 64, 8)
        >>> std = float(conv.weight.detach().std())
        >>> rescale_init(conv, 0.1)
        >>> abs(float(conv.weight.detach().std()) - (std * 0.1) ** 0.5) < 1e-6
        True
    """
    for m in model.modules():
        if isinstance(m, CONV_LIKE):
            scale = (m.weight.std() / reference) ** 0.5
            m.weight.div_(scale)
            if m.bias is not None:
                m.bias.div_(scale)
